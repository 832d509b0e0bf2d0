"""`gridchain bench`: the benchmarks (chain, consensus, smt, sync, vm, farming, deploy,
deploy-latency, heal, bls, light)."""

import click

from node.cli.common import CliError
from node.cli.output import emit, json_option, progress


@click.group()
def bench() -> None:
    """Measure throughput on this machine (figures go to docs/benchmarks.md)."""


@bench.command("chain")
@click.option("--txs", type=click.IntRange(1000, 10_000_000), default=40_000, show_default=True)
@click.option("--accounts", type=click.IntRange(1), default=10_000, show_default=True)
@click.option("--block-size", type=click.IntRange(1, 100_000), default=5_000, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(0, 64),
    default=2,
    show_default=True,
    help="Signature-checking processes (0: check in the main process).",
)
@json_option
def bench_chain_command(
    txs: int, accounts: int, block_size: int, workers: int, as_json: bool
) -> None:
    """Signed transfers decoded, verified, applied and committed to LevelDB per second."""
    from node.bench.chain import bench_chain

    result = bench_chain(txs, accounts, block_size, workers, progress(as_json)).to_json()
    rates = result["tx_per_s"]
    emit(
        as_json,
        result,
        [
            f"{txs} transfers from {accounts} accounts, blocks of {block_size}, "
            f"{workers} verify workers",
            f"end to end: {rates['end_to_end']:,} tx/s (wall {result['seconds']['wall']} s)",
            f"stages: decode {rates['decode']:,}/s, apply+state root "
            f"{rates['apply_and_state_root']:,}/s, commit {rates['commit']:,}/s, "
            f"waiting for signatures {result['seconds']['verify_wait']} s",
        ],
    )


@bench.command("consensus")
@click.option("--seconds", type=click.FloatRange(5), default=60, show_default=True)
@click.option(
    "--rate",
    type=click.IntRange(10),
    default=2000,
    show_default=True,
    help="Transfers offered per second.",
)
@click.option("--validators", type=click.IntRange(1, 16), default=4, show_default=True)
@click.option("--senders", type=click.IntRange(1, 100_000), default=400, show_default=True)
@click.option(
    "--submit",
    type=click.Choice(["cbor", "json"]),
    default="cbor",
    show_default=True,
    help="How the load is sent to the batch API: one CBOR array, or JSON with hex.",
)
@json_option
def bench_consensus_command(
    seconds: float, rate: int, validators: int, senders: int, submit: str, as_json: bool
) -> None:
    """Finalized transfers/s, submit-to-final latency, and CPU per finalized transfer per
    validator (from /proc) on a local multi-validator devnet."""
    from node.bench.consensus import bench_consensus

    result = bench_consensus(
        seconds, rate, validators, senders, progress(as_json), submit == "cbor"
    ).to_json()
    latency = result["latency_s"]
    emit(
        as_json,
        result,
        [
            f"{validators} validators, {rate} tx/s offered for {result['load_seconds']} s "
            f"({result['accepted']} accepted)",
            f"finalized: {result['finalized_tx_per_s']:,} tx/s during the load "
            f"({result['finalized']} in all, {result['blocks']} blocks, "
            f"{result['mean_block_txs']} txs per block)",
            f"submit to final: p50 {latency['p50']} s, p99 {latency['p99']} s, "
            f"max {latency['max']} s",
            f"CPU: {result['cpu_us_per_tx_per_validator']} us per finalized transfer per "
            f"validator ({result['cpu_s']} s in all, load sent as {result['submit']}); peak "
            f"RSS per node {result['peak_rss_mb']} MB",
        ],
    )


@bench.command("smt")
@click.option("--keys", type=click.IntRange(1000), default=100_000, show_default=True)
@click.option("--batch", type=click.IntRange(100), default=10_000, show_default=True)
@json_option
def bench_smt_command(keys: int, batch: int, as_json: bool) -> None:
    """State-root updates per second on a LevelDB-backed sparse Merkle tree."""
    from node.bench.chain import bench_smt

    result = bench_smt(keys, batch, progress(as_json))
    emit(
        as_json,
        result,
        f"{result['updates_per_s']:,} state-root updates/s "
        f"(batches of {batch} into a tree of {keys} keys)",
    )


@bench.command("sync")
@click.option("--blocks", type=click.IntRange(10, 1_000_000), default=10_000, show_default=True)
@click.option(
    "--txs-per-block",
    type=click.IntRange(0, 5_000),
    default=10,
    show_default=True,
    help="Transfers in every generated block (0: empty blocks).",
)
@click.option(
    "--breakdown",
    "breakdown_blocks",
    type=click.IntRange(0),
    default=2_000,
    show_default=True,
    help="Blocks replayed offline afterwards to time each step of the sync path (0: skip).",
)
@json_option
def bench_sync_command(
    blocks: int, txs_per_block: int, breakdown_blocks: int, as_json: bool
) -> None:
    """Catch-up speed: blocks/s for a node that many blocks behind a 4-validator devnet."""
    from node.bench.sync import bench_sync

    result = bench_sync(blocks, txs_per_block, breakdown_blocks, progress(as_json)).to_json()
    node3 = result["node3"]
    lines = [
        f"{blocks} blocks of {txs_per_block} transfers, generated in "
        f"{result['generate']['seconds']} s; 4 validators, node3 starts empty",
        f"catch-up: {result['blocks_per_s']} blocks/s from node3's API answering "
        f"({node3['api_to_target_s']} s, height {node3['height_at_api']} at that moment); "
        f"{result['blocks_per_s_including_start']} blocks/s including process start "
        f"({node3['spawn_to_target_s']} s); steady {result['steady_blocks_per_s']} blocks/s",
        f"synced_blocks {node3['synced_blocks']}, headers match node0: {result['headers_match']}; "
        f"node3 CPU {node3['cpu_s']} s ({result['blocks_per_cpu_s']} blocks per CPU-second), "
        f"load average {result['load_average_at_start']} at its start",
    ]
    if result["breakdown"] is not None:
        steps = result["breakdown"]["ms_per_block"]
        lines.append(
            f"offline replay of {result['breakdown']['blocks']} blocks, ms per block: "
            + ", ".join(f"{name} {ms}" for name, ms in steps.items())
        )
    emit(as_json, result, lines)


@bench.command("statesync")
@click.option("--blocks", type=click.IntRange(10, 10_000_000), default=100_000, show_default=True)
@click.option(
    "--accounts",
    type=click.IntRange(0, 10_000_000),
    default=100_000,
    show_default=True,
    help="New accounts the generated chain funds (the state's size).",
)
@json_option
def bench_statesync_command(blocks: int, accounts: int, as_json: bool) -> None:
    """State sync: a validator joining a chain of that many blocks from a snapshot."""
    from node.bench.statesync import bench_statesync

    result = bench_statesync(blocks, accounts, progress(as_json)).to_json()
    node3, snapshot = result["node3"], result["snapshot"]
    restore = node3["restore"]
    lines = [
        f"{blocks} blocks funding {accounts} accounts, generated in {result['generate_s']} s; "
        f"snapshot of {snapshot['records']} records in {snapshot['chunks']} chunks made in "
        f"{snapshot['seconds']} s",
        f"node3 joined in {node3['spawn_to_target_s']} s from its spawn (restore "
        f"{restore.get('seconds')} s: {restore.get('chunks')} chunks, {restore.get('records')} "
        f"records; base height {node3['base_height']}), CPU {node3['cpu_s']} s, peak RSS "
        f"{node3['peak_rss_mb']} MB",
        f"headers match node0: {result['headers_match']}; accounts match: "
        f"{result['accounts_match']}",
    ]
    emit(as_json, result, lines)


@bench.command("vm")
@click.option("--iterations", default=2_000_000, show_default=True, type=click.IntRange(1000))
@click.option(
    "--evm-iterations",
    default=200_000,
    show_default=True,
    type=click.IntRange(0),
    help="The same loop on py-evm (needs `pip install 'gridchain[bench]'`; 0 skips).",
)
@click.option("--approvals", default=300, show_default=True, type=click.IntRange(10))
@json_option
def bench_vm_command(iterations: int, evm_iterations: int, approvals: int, as_json: bool) -> None:
    """VM ops/s on a counting loop beside py-evm, and the cost of one multisig approval."""
    from node.bench.vm import bench_vm

    result = bench_vm(iterations, approvals, evm_iterations, progress(as_json))
    vm, evm, approval = result["vm"], result["evm"], result["approval"]
    lines = [f"VM: {vm['ops_per_second']:,} metered ops/s ({vm['ops']:,} ops in {vm['seconds']} s)"]
    if evm is not None:
        lines.append(
            f"py-evm {evm['py_evm_version']}: {int(evm['ops_per_s']):,} ops/s; "
            f"the VM is {result['ratio']}x faster on this loop"
        )
    lines.append(
        f"multisig approval: {approval['gas_per_approval']} gas, median "
        f"{approval['median_us']} us (p90 {approval['p90_us']} us), "
        f"{approval['approvals_per_s']:,} approvals/s on one core"
    )
    emit(as_json, result, lines)


@bench.command("farming")
@click.option("--nodes", type=click.IntRange(1, 100_000), default=1_000, show_default=True)
@click.option(
    "--payout-nodes", type=click.IntRange(1, 1_000_000), default=10_000, show_default=True
)
@click.option("--k", type=click.IntRange(18, 32), default=18, show_default=True)
@click.option(
    "--plots",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Real plots made (one owner each); the nodes' proofs are drawn from them.",
)
@json_option
def bench_farming_command(nodes: int, payout_nodes: int, k: int, plots: int, as_json: bool) -> None:
    """Checking one epoch's farming proofs, and building the block that pays an epoch."""
    from node.bench.farming import bench_farming

    result = bench_farming(nodes, payout_nodes, k, plots, progress(as_json)).to_json()
    v, pay = result["verification"], result["payouts"]
    storage, heartbeats = v["storage"], v["heartbeats"]
    boundary, ordinary = pay["boundary_block"], pay["ordinary_block"]
    emit(
        as_json,
        result,
        [
            f"one epoch for {nodes:,} nodes ({v['epoch_wall_s']:g} s of blocks):",
            f"  storage: {storage['proofs_verified']:,} proofs, {storage['verify_us_per_proof']} "
            f"us each (drawn from {storage['proof_pool']} real proofs of {plots} k={k} plots); "
            f"the rule: {storage['rule_us_per_proof']} us each, {storage['epoch_s']} s",
            f"  compute: {v['compute_mainnet']['units']:,} scrypt units, "
            f"{v['compute_mainnet']['epoch_s']} s at mainnet size (16 MiB), "
            f"{v['compute_devnet']['epoch_s']} s at devnet size",
            f"  heartbeats: {heartbeats['ed25519_verifies']:,} ed25519 verifies "
            f"({heartbeats['verifies_per_s']:,}/s) {heartbeats['epoch_verify_s']} s, "
            f"rule {heartbeats['epoch_rule_s']} s",
            f"  total {v['total_s']} s: {v['share_of_epoch_pct']}% of the epoch",
            f"payouts for {payout_nodes:,} nodes in {pay['farms']:,} farms: settle "
            f"{pay['settle_ms']} ms; the epoch's first block builds in {boundary['build_ms']} ms, "
            f"validates in {boundary['validate_ms']} ms, {boundary['encoded_bytes']:,} bytes "
            f"({pay['reward_lines']:,} reward lines); an ordinary block {ordinary['build_ms']} + "
            f"{ordinary['validate_ms']} ms",
            f"  build + validate {pay['build_plus_validate_ms']} ms of a "
            f"{pay['block_interval_ms']} ms block interval "
            f"({'fits' if pay['fits_in_interval'] else 'does not fit'}); "
            f"propose timeout {pay['propose_timeout_ms']} ms",
        ],
    )


@bench.command("deploy")
@click.option(
    "--nodes",
    "sizes",
    type=click.IntRange(10, 100_000),
    multiple=True,
    default=(1_000, 3_000, 10_000),
    show_default=True,
    help="Registered nodes to place among (repeat for several sizes).",
)
@click.option(
    "--placements",
    type=click.IntRange(1),
    default=50,
    show_default=True,
    help="Placements timed of each case at each size (interleaved).",
)
@click.option(
    "--adversarial",
    type=click.IntRange(0),
    default=5,
    show_default=True,
    help="Placements timed of case f (64 replicas in a circle of few nodes; seconds each).",
)
@click.option(
    "--farms",
    type=click.IntRange(1, 10_000),
    default=50,
    show_default=True,
    help="Farms the nodes belong to (each node's drawn from its id).",
)
@click.option(
    "--cases", "only", default="", help="Only these cases, as letters (e.g. 'ace'); all if empty."
)
@click.option(
    "--replicas",
    type=click.IntRange(1, 256),
    default=100,
    show_default=True,
    help="Replicas the agent's node holds (one of each of as many deployments).",
)
@click.option(
    "--missing",
    type=click.IntRange(0),
    default=10,
    show_default=True,
    help="Of the agent's replicas, how many the runtime lacks (the plan starts them).",
)
@click.option(
    "--rounds",
    type=click.IntRange(1),
    default=200,
    show_default=True,
    help="Reconcile rounds timed (each: JSON, wanted_from, and the three plans).",
)
@click.option(
    "--sandbox-starts",
    type=click.IntRange(0, 64),
    default=0,
    show_default=True,
    help="Also start this many real host-image replicas (root, bubblewrap: `make install`).",
)
@json_option
def bench_deploy_command(
    sizes: tuple[int, ...],
    placements: int,
    adversarial: int,
    farms: int,
    only: str,
    replicas: int,
    missing: int,
    rounds: int,
    sandbox_starts: int,
    as_json: bool,
) -> None:
    """Placing a workload among thousands of nodes, and one reconcile round of a node's agent."""
    from node.bench.deploy import Rounds, bench_deploy

    if missing > replicas:
        raise click.BadParameter(f"at most --replicas ({replicas})", param_hint="--missing")
    plan = Rounds(placements, adversarial, farms, only)
    result = bench_deploy(
        sorted(set(sizes)),
        plan,
        (replicas, missing, rounds),
        sandbox_starts,
        progress(as_json),
    ).to_json()
    lines = [f"placement ({result['store']}); ms per placement, median / p90 (min-max):"]
    for size in result["placement"]:
        lines.append(
            f"  {size['nodes']:,} nodes on {size['farms']} farms "
            f"({size['nodes_in_circle']} in the circle):"
        )
        for c in size["cases"].values():
            t = c["total_ms"]
            outcome = f"placed {c['placed']}/{c['placements']}"
            if c["placed"] < c["placements"]:
                outcome += f": {c['message']}"
            lines.append(
                f"    {c['case']} {c['what']}: {t['median']} / {t['p90']} "
                f"({t['min']}-{t['max']}), {c['state_reads']:,} state reads; {outcome}"
            )
    over = result["over_stall_ms"]
    slow = ", ".join(over["cases"]) or "none"
    lines.append(
        f"  over {over['threshold_ms']} ms at the largest size: {slow}"
        f" (block interval {result['params']['block_interval_ms']} ms, devnet "
        f"{result['params']['devnet_block_interval_ms']} ms)"
    )
    agent = result["agent"]
    plan_ms = agent["plan_ms"]
    lines += [
        f"agent, {agent['replicas']} replicas ({agent['body_bytes']:,} bytes of JSON), median ms "
        f"of {agent['rounds']} rounds: JSON decode {agent['json_decode_ms']['median']}, "
        f"wanted_from {agent['wanted_from_ms']['median']}, plan {plan_ms['steady']['median']} "
        f"(steady), {plan_ms['start']['median']} ({agent['missing']} to start), "
        f"{plan_ms['bill']['median']} (every replica billed)",
        f"  one steady round: {agent['round_ms']['steady']['median']} ms "
        f"({agent['round_ms']['including_json']} ms with the JSON); the API's replicas_of "
        f"{agent['api_replicas_of_ms']['median']} ms (in-memory state)",
    ]
    sandbox = agent["sandbox"]
    if sandbox is not None:
        if "error" in sandbox:
            lines.append(f"  sandbox: {sandbox['error']}")
        else:
            with_disk = sandbox["start_with_disk_ms"]
            lines.append(
                f"  sandbox: {sandbox['replicas']} real starts, median "
                f"{sandbox['start_ms']['median']} ms (max {sandbox['start_ms']['max']})"
                + (
                    f", with a {sandbox['disk_mb']} MiB disk {with_disk['median']} ms "
                    f"(max {with_disk['max']})"
                    if with_disk
                    else ""
                )
                + f"; observe {sandbox['observe_ms']['median']} ms with {sandbox['running']} "
                f"running; stop {sandbox['stop_ms']['median']} ms"
            )
    emit(as_json, result, lines)


@bench.command("deploy-latency")
@click.option(
    "--workloads",
    type=click.IntRange(1, 200),
    default=20,
    show_default=True,
    help="Web workloads deployed, measured and cancelled one after the other.",
)
@click.option("--validators", type=click.IntRange(1, 16), default=1, show_default=True)
@click.option(
    "--farmers",
    type=click.IntRange(1, 8),
    default=3,
    show_default=True,
    help="Farm nodes (farmer1 is also the gateway).",
)
@json_option
def bench_deploy_latency_command(
    workloads: int, validators: int, farmers: int, as_json: bool
) -> None:
    """Authorization to `deployed` and to the first page through the gateway, on a devnet with
    farmers under /tmp (root: the sandbox runtime and nginx; `make install`)."""
    from node.bench.deploy_latency import bench_deploy_latency
    from node.bench.devnet_kit import BenchError

    try:
        result = bench_deploy_latency(workloads, validators, farmers, progress(as_json)).to_json()
    except BenchError as exc:
        raise CliError(str(exc), "bench_failed") from None
    s, b = result["seconds"], result["blocks"]

    def line(name: str, what: str) -> str:
        t = s[name]
        return f"  {what}: p50 {t['p50']} s, p99 {t['p99']} s, max {t['max']} s"

    left = result["leftovers"]
    emit(
        as_json,
        result,
        [
            f"{workloads} web workloads, one at a time, on {validators} validator(s) and "
            f"{farmers} farmers ({result['machine']['cpus']} CPUs); seconds after the "
            "authorizing block:",
            line("authorized_to_placed", "placed (its block's time)"),
            line("authorized_to_deployed", "deployed (its block's time)"),
            line("authorized_to_route", "the gateway knows the name (503)"),
            line("authorized_to_page", "first page through the gateway"),
            line("deployed_to_page", "deployed block to first page"),
            f"  blocks, p50 / max: authorization to placed "
            f"{b['authorized_to_placed']['p50']} / {b['authorized_to_placed']['max']}, placed to "
            f"deployed {b['placed_to_deployed']['p50']} / {b['placed_to_deployed']['max']}, "
            f"deployed to page {b['deployed_to_page']['p50']} / {b['deployed_to_page']['max']} "
            f"({result['block_interval_s_while_measuring']} s a block)",
            line("cancel_to_404", "cancel to 404"),
            line("cancel_to_replica_gone", "cancel to replica torn down"),
            f"  warm-up workload (not counted): deployed {result['warmup']['deployed_s']} s, "
            f"page {result['warmup']['page_s']} s",
            *(f"  refused first: {u}" for u in result["unplaceable"]),
            "left behind after `devnet down`: " + ("; ".join(left) if left else "nothing"),
        ],
    )


@bench.command("heal")
@click.option(
    "--trials",
    type=click.IntRange(1, 100),
    default=10,
    show_default=True,
    help="Kills, each of the farm node running a new workload's replica.",
)
@click.option("--validators", type=click.IntRange(1, 16), default=4, show_default=True)
@click.option(
    "--farmers",
    type=click.IntRange(3, 8),
    default=3,
    show_default=True,
    help="Farm nodes (farmer1 is the gateway; the replicas run on the others).",
)
@json_option
def bench_heal_command(trials: int, validators: int, farmers: int, as_json: bool) -> None:
    """Time to heal: from kill -9 of the farm node running a replica to its page served again
    through the gateway, on a devnet under /tmp (root: the sandbox runtime and nginx)."""
    from node.bench.devnet_kit import BenchError
    from node.bench.heal import bench_heal

    try:
        result = bench_heal(trials, validators, farmers, progress(as_json)).to_json()
    except BenchError as exc:
        raise CliError(str(exc), "bench_failed") from None
    served, split, b = result["served_again_s"], result["split_s"], result["blocks"]
    restart = result["restart"]
    left = result["leftovers"]

    def median(name: str) -> str:
        return f"{name} {split[name]['p50']} s"

    emit(
        as_json,
        result,
        [
            f"{trials} kills of the farm node running a replica, on {validators} validator(s) and "
            f"{farmers} farmers ({result['machine']['cpus']} CPUs):",
            f"  kill to the page served again: p50 {served['p50']} s, p90 {served['p90']} s, "
            f"max {served['max']} s (target p50 under {result['target_p50_s']:g} s: "
            f"{'met' if result['target_met'] else 'not met'})",
            "  median split: "
            + ", ".join(median(n) for n in ("detection", "placement", "deploy", "gateway"))
            + f" (the last heartbeat came {split['heartbeat_before_kill']['p50']} s before the "
            "kill)",
            f"  blocks, median: last heartbeat to down {b['last_heartbeat_to_down']['median']}, "
            f"kill to down {b['kill_to_down']['median']}, down to placed "
            f"{b['down_to_placed']['median']}, placed to deployed "
            f"{b['placed_to_deployed']['median']} ({result['block_interval_s_while_down']} s a "
            "block while the node was silent)",
            f"  the killed node back: its old copy gone p50 {restart['old_copy_gone_s']['p50']} s "
            f"after its start; billed only up to its last heartbeat: "
            f"{'yes' if restart['billing_ok'] else 'NO'}",
            *(
                f"  trial {s['trial']} placement refused: {u}"
                for s in result["samples"]
                for u in s["unplaceable"]
            ),
            "  anchors: " + "; ".join(f"{k} {v}" for k, v in result["anchors"].items()),
            "left behind after `devnet down`: " + ("; ".join(left) if left else "nothing"),
        ],
    )


@bench.command("bls")
@click.option(
    "--iterations",
    type=click.IntRange(10, 100_000),
    default=200,
    show_default=True,
    help="Runs of each operation on the fast backend (arkworks).",
)
@click.option(
    "--reference-runs",
    type=click.IntRange(0, 1_000),
    default=3,
    show_default=True,
    help="Most runs of each operation on py_ecc, the pure-Python reference (0 skips it).",
)
@click.option(
    "--reference-seconds",
    type=click.FloatRange(1),
    default=60,
    show_default=True,
    help="About how long py_ecc may take in all (each operation runs at least once).",
)
@json_option
def bench_bls_command(
    iterations: int, reference_runs: int, reference_seconds: float, as_json: bool
) -> None:
    """BLS12-381 per backend: keygen, sign, verify, FastAggregateVerify over 4/64/150 keys,
    aggregating 64 signatures, KeyValidate (figures go to docs/benchmarks.md)."""
    from node.bench.bls import bench_bls

    result = bench_bls(iterations, reference_runs, reference_seconds, progress(as_json))
    machine = result["machine"]
    lines = [
        f"{machine['processor']}, {machine['cpus']} CPUs, Python {machine['python']}; "
        f"{result['message_bytes']}-byte message; ms, median of runs (min)"
    ]
    for name, measured in result["backends"].items():
        lines.append(f"{name} {result['versions'].get(name, '')}:")
        for op, t in measured["ms"].items():
            lines.append(f"  {op}: {t['median_ms']} ({t['min_ms']}), {t['runs']} runs")
    lines.append(
        f"ed25519 verify, for scale: {result['ed25519_verify_ms']} ms; {result['seconds']} s in all"
    )
    emit(as_json, result, lines)


@bench.command("light")
@click.option("--headers", type=click.IntRange(10, 1_000_000), default=10_000, show_default=True)
@click.option("--validators", type=click.IntRange(1, 256), default=4, show_default=True)
@click.option(
    "--change-every",
    type=click.IntRange(1),
    default=100,
    show_default=True,
    help="Heights between changes of the set (each replaces one validator).",
)
@click.option(
    "--runs",
    type=click.IntRange(1, 100_000),
    default=100,
    show_default=True,
    help="Runs of each certificate check (median).",
)
@json_option
def bench_light_command(
    headers: int, validators: int, change_every: int, runs: int, as_json: bool
) -> None:
    """Finality certificates of 4/64/150 validators against ed25519 commits (bytes, check
    time), and a light client following HEADERS headers whose set keeps changing, header by
    header and skipping (figures go to docs/benchmarks.md)."""
    from node.bench.light import bench_light

    result = bench_light(headers, validators, change_every, runs, progress(as_json))
    lines = [f"{result['machine']['processor']}, {result['machine']['cpus']} CPUs"]
    for n, c in result["certificates"].items():
        lines.append(
            f"{n} validators: certificate {c['certificate_bytes']} B, checked in "
            f"{c['check_ms']} ms; ed25519 commit {c['ed25519_commit_bytes']} B, "
            f"{c['ed25519_check_ms']} ms"
        )
    sync = result["light_sync"]
    lines.append(
        f"{sync['headers']:,} headers, {sync['set_changes']} set changes: header by header "
        f"{sync['adjacent']['headers_per_s']:,} headers/s ({sync['adjacent']['seconds']} s); "
        f"skipping {sync['skipping']['certificates_checked']} certificates in "
        f"{sync['skipping']['seconds']} s"
    )
    emit(as_json, result, lines)
