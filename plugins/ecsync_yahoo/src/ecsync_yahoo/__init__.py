"""
Yahoo!ショッピング (store API getStock/setStock) as an ecsync target mall.
"""
