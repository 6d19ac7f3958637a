"""Koha platform infrastructure as Pulumi components, on AWS or GCP behind one interface.

``infra/__main__.py`` wires stack config (config.py) to the components. Each cloud has
one module per component, the same five on both: ``storage`` (ArtifactStore),
``identity`` (Identity), ``monitoring`` (Monitoring), ``compute`` (Hosts), ``database``
(Database); each component takes an ``…Args`` object and creates its child resources
with ``parent=self``. ``outputs.py`` defines the stack outputs once for both clouds;
``inventory.py`` turns them into an Ansible inventory. The tests' mock harness is in
tests/infra/harness.py.
"""
