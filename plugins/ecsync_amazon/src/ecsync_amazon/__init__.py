"""
Amazon FBA (SP-API) as the stock source for ecsync.
"""
