"""
Yahoo! ID連携 (YConnect v2): consent once, save the refresh token (28 days) in .env.

    python scripts/get_yahoo_token.py [-c config/config.yaml] [--paste] [--timeout SECONDS]

The same as `ecsync yahoo-token`; the flow lives in ecsync_yahoo.token_flow.
"""

from ecsync_yahoo.token_flow import main


if __name__ == "__main__":
    main()
