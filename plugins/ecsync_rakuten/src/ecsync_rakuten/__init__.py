"""
楽天市場 (RMS Inventory API 2.0) as an ecsync target mall.
"""
