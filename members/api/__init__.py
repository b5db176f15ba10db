"""The partner REST API of members, checkouts, purchases and refunds (/api/v1/).

Serializers sit next to their views, one module per resource; the views only clean
input and call members.services / members.selectors.
"""
