"""airbyte-cdk's standard source tests, driven by ../acceptance-test-config.yml.

The in-process tests run the binary through `SubprocessSource`; the image tests
(`DockerConnectorTestSuite`) run it through the `bin/docker` shim that acceptance.sh puts first
on PATH, so both halves of the suite exercise the same build without a Docker engine.
"""

from airbyte_cdk.test.standard_tests import SourceTestSuiteBase
from subprocess_source import SubprocessSource


class TestSourceHarvest(SourceTestSuiteBase):
    connector = SubprocessSource
