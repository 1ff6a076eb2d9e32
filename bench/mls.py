"""What the pure-Python MLS library costs as groups grow (cipher suite 1).

For each group size, in two tree states, this measures: the time to create a commit with an
UpdatePath, the time for another member to process it, and application messages (200-byte
payloads) encrypted and decrypted per second. Commits travel as PrivateMessage, the library's
default. Every figure is given as CPU time of this process (what the library costs, whatever
else the machine runs) and as wall time (what a user waits for on this machine, now).

- ``worst``: the group as one commit adding everyone without a path leaves it. Every parent
  node is blank, so a commit's path encrypts to nearly every other leaf (O(n) HPKE seals).
- ``steady``: the same group after ``--fillers`` members spread evenly over the tree have each
  committed with a path (they rejoin by external commit, replacing their own leaf, which is
  how a member without a live state refreshes its keys). Their paths fill the upper levels of
  the tree; a group whose members have all committed is the limit, with O(log n) seals.

The ``filled`` column is the share of parent nodes that hold a key, ``fan-out`` the number of
HPKE encryptions in the measured commit's path.

    python bench/mls.py [--sizes 2 10 100 1000] [--commits 5] [--messages 500] [--fillers 64]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from sottovoce.mls import Group, GroupConfig, accept_any_credential, generate_key_package

PAYLOAD = bytes(200)
CONFIG = GroupConfig(accept_any_credential)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Cost:
    """CPU and wall seconds of one measured action."""

    cpu: float
    wall: float


@dataclass(frozen=True, slots=True)
class Figures:
    size: int
    state: str
    filled: float
    fan_out: int
    commit: Cost
    process: Cost
    encrypt_per_s: Cost
    decrypt_per_s: Cost


def _timed(action: Callable[[], T]) -> tuple[T, Cost]:
    cpu, wall = time.process_time(), time.perf_counter()
    result = action()
    return result, Cost(time.process_time() - cpu, time.perf_counter() - wall)


def _median(costs: list[Cost]) -> Cost:
    return Cost(statistics.median(c.cpu for c in costs), statistics.median(c.wall for c in costs))


def _rate(count: int, cost: Cost) -> Cost:
    return Cost(count / cost.cpu, count / cost.wall)


def _identity(i: int) -> bytes:
    return b"member-%d" % i


def build_group(size: int) -> tuple[Group, Group]:
    """The creator (leaf 0) and the member at leaf 1 of a ``size``-member group, built with one
    commit adding everyone without a path."""
    bundles = [generate_key_package(_identity(i)) for i in range(size)]
    creator = Group.create(b"bench", bundles[0], CONFIG)
    out = creator.commit(add=[b.key_package for b in bundles[1:]], with_path=False)
    creator.merge_pending_commit()
    assert out.welcome is not None
    return creator, Group.join(out.welcome, bundles[1], CONFIG)


def filler_leaves(size: int, fillers: int) -> list[int]:
    """Up to ``fillers`` leaves spread evenly over the group, leaving out the two measured."""
    stride = max(2, size // max(fillers, 1))
    return [leaf for leaf in range(stride, size, stride)][:fillers]


def fill_tree(committer: Group, member: Group, leaves: list[int]) -> None:
    """Have the member at each of ``leaves`` commit with a path: it rejoins by external commit
    in place of its old leaf, and both measured members process that commit."""
    for leaf in leaves:
        bundle = generate_key_package(_identity(leaf))
        _, commit = Group.join_external(committer.group_info(), bundle, CONFIG, resync_leaf=leaf)
        committer.process(commit)
        member.process(commit)


def filled_share(group: Group) -> float:
    """Share of the parent nodes over the members' leaves that hold a key."""
    nodes = group.state.tree.nodes
    used = 2 * (max(group.members()) + 1) - 1
    parents = nodes[1:used:2]
    return sum(node is not None for node in parents) / max(len(parents), 1)


def path_fan_out(group: Group) -> int:
    """HPKE encryptions a commit with path from ``group``'s member makes to the current tree."""
    tree = group.state.tree
    return sum(len(tree.resolution(c)) for c in tree.filtered_copath(group.own_leaf))


def measure(committer: Group, member: Group, state: str, commits: int, messages: int) -> Figures:
    filled, fan_out = filled_share(committer), path_fan_out(committer)
    commit_costs, process_costs = [], []
    for _ in range(commits):
        out, cost = _timed(committer.commit)
        commit_costs.append(cost)
        committer.merge_pending_commit()
        process_costs.append(_timed(partial(member.process, out.message))[1])
    assert committer.epoch_authenticator == member.epoch_authenticator

    ciphertexts, encrypt = _timed(lambda: [committer.encrypt(PAYLOAD) for _ in range(messages)])
    _, decrypt = _timed(lambda: [member.process(c) for c in ciphertexts])
    return Figures(
        len(committer.members()),
        state,
        filled,
        fan_out,
        _median(commit_costs),
        _median(process_costs),
        _rate(messages, encrypt),
        _rate(messages, decrypt),
    )


def run(size: int, commits: int, messages: int, fillers: int) -> Iterator[tuple[Figures, Cost]]:
    """The worst-case figures, then the steady-state ones, each with the set-up time."""
    (committer, member), build = _timed(lambda: build_group(size))
    yield measure(committer, member, "worst", commits, messages), build
    leaves = filler_leaves(size, fillers)
    _, fill = _timed(lambda: fill_tree(committer, member, leaves))
    yield measure(committer, member, f"steady/{len(leaves)}", commits, messages), fill


HEADER = (
    ("members", 7),
    ("tree", 10),
    ("filled", 6),
    ("fan-out", 7),
    ("setup s", 7),
    ("commit ms", 13),
    ("process ms", 13),
    ("encrypt/s", 13),
    ("decrypt/s", 13),
)


def _pair(cost: Cost, scale: float, fmt: str) -> str:
    return f"{format(cost.cpu * scale, fmt)}/{format(cost.wall * scale, fmt)}"


def format_row(f: Figures, setup: Cost) -> str:
    cells = (
        str(f.size),
        f.state,
        f"{f.filled:.0%}",
        str(f.fan_out),
        f"{setup.wall:.1f}",
        _pair(f.commit, 1000, ".1f"),
        _pair(f.process, 1000, ".1f"),
        _pair(f.encrypt_per_s, 1, ".0f"),
        _pair(f.decrypt_per_s, 1, ".0f"),
    )
    return "  ".join(f"{cell:>{width}}" for cell, (_, width) in zip(cells, HEADER, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 10, 100, 1000])
    parser.add_argument("--commits", type=int, default=5, help="commits timed per row")
    parser.add_argument("--messages", type=int, default=500, help="messages timed per row")
    parser.add_argument(
        "--fillers", type=int, default=64, help="members committing with path before 'steady'"
    )
    args = parser.parse_args()
    if min(args.sizes) < 2:
        parser.error("a group needs at least 2 members: one commits, one processes")

    print(
        f"MLS (pure Python, suite 1): medians over {args.commits} commits, {args.messages}"
        f" messages of {len(PAYLOAD)} bytes; each time cell is CPU/wall. 'worst' is the tree"
        " right after one bulk add (all parents blank); 'steady/N' the same group after N"
        " spread members committed with path."
    )
    print("  ".join(f"{name:>{width}}" for name, width in HEADER))
    for size in args.sizes:
        for figures, setup in run(size, args.commits, args.messages, args.fillers):
            print(format_row(figures, setup), flush=True)


if __name__ == "__main__":
    main()
