"""AWS adapters shared by more than one Lambda: small classes around an injected boto3 client.

The router and the labeller both call Bedrock; the failover controller and the scorer trainer both write AppConfig.
Each adapter lives here once, so no Lambda imports another Lambda's package.
"""
