"""Koha platform infrastructure as Pulumi components, on AWS or GCP behind one interface.

``__main__.py`` wires stack config to the components; each component lives in
``aws/`` and ``gcp/`` and creates its child resources with ``parent=self``.
"""
