"""Mesos adapters: the operator API client, observation into snapshot parts, the framework.

`operator` and `observe` need only the standard library (the Lambda bundle uses them);
`framework` needs pymesos (the optional `framework` extra).
"""
