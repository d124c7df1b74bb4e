"""The campaigns app's REST API: the public web-to-lead endpoint."""
