"""The `gridchain` command line: the root group, with every command group registered on it.

Every command takes --json for machine-readable output. Failures never show a stack trace: the
root group renders every known error as one line on stderr (exit 1), or with --json as
{"error": {"code", "message"}} on stdout."""

import click

from node.cli.audit import audit
from node.cli.bench import bench
from node.cli.common import GridchainGroup
from node.cli.contract import contract
from node.cli.devnet import devnet
from node.cli.farmer import farmer
from node.cli.genesis import genesis
from node.cli.gov import gov
from node.cli.keys import keys
from node.cli.light import light
from node.cli.node_home import node_group
from node.cli.query import query, status
from node.cli.tx import tx
from node.cli.workload import workload
from node.release import VERSION


@click.group(cls=GridchainGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=VERSION, message="%(prog)s %(version)s")
def cli() -> None:
    """gridchain: a permissioned proof-of-stake chain for IT infrastructure."""


def main() -> None:
    cli()


for command in (
    keys,
    genesis,
    node_group,
    tx,
    gov,
    query,
    status,
    workload,
    contract,
    audit,
    light,
    farmer,
):
    cli.add_command(command)
cli.add_command(devnet)
cli.add_command(bench)
