"""What the pure-Python MLS library costs as groups grow (cipher suite 1, one CPU).

For each group size: the time to create a commit with an UpdatePath, the time for another
member to process it, and application messages (200-byte payloads) encrypted and decrypted
per second. Commits travel as PrivateMessage, the library's default. Times are this
process's CPU time, so other load on the machine does not inflate them.

Each group is built with a single commit adding everyone without a path, so every parent
node is blank: a commit's path then encrypts to nearly every other leaf. That is the costly
end for the committer (a group whose members have all committed encrypts to O(log n) nodes).

    python bench/mls.py [--sizes 2 10 100 1000] [--commits 5] [--messages 500]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from sottovoce.mls import Group, GroupConfig, accept_any_credential, generate_key_package

PAYLOAD = bytes(200)
CONFIG = GroupConfig(accept_any_credential)


@dataclass(frozen=True, slots=True)
class Figures:
    size: int
    build_s: float
    commit_s: float
    process_s: float
    encrypt_per_s: float
    decrypt_per_s: float


def _timed(action: Callable[[], object]) -> float:
    start = time.process_time()
    action()
    return time.process_time() - start


def build_group(size: int) -> tuple[Group, Group]:
    """The creator and one other member of a ``size``-member group."""
    bundles = [generate_key_package(b"member-%d" % i) for i in range(size)]
    creator = Group.create(b"bench", bundles[0], CONFIG)
    out = creator.commit(add=[b.key_package for b in bundles[1:]], with_path=False)
    creator.merge_pending_commit()
    assert out.welcome is not None
    return creator, Group.join(out.welcome, bundles[1], CONFIG)


def measure(size: int, commits: int, messages: int) -> Figures:
    start = time.process_time()
    committer, member = build_group(size)
    build_s = time.process_time() - start

    commit_times, process_times = [], []
    for _ in range(commits):
        start = time.process_time()
        out = committer.commit()
        commit_times.append(time.process_time() - start)
        committer.merge_pending_commit()
        start = time.process_time()
        member.process(out.message)
        process_times.append(time.process_time() - start)
    assert committer.epoch_authenticator == member.epoch_authenticator

    ciphertexts: list[bytes] = []
    encrypt_s = _timed(
        lambda: ciphertexts.extend(committer.encrypt(PAYLOAD) for _ in range(messages))
    )
    decrypt_s = _timed(lambda: [member.process(c) for c in ciphertexts])
    return Figures(
        size,
        build_s,
        statistics.median(commit_times),
        statistics.median(process_times),
        messages / encrypt_s,
        messages / decrypt_s,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 10, 100, 1000])
    parser.add_argument("--commits", type=int, default=5, help="commits timed per size")
    parser.add_argument("--messages", type=int, default=500, help="messages timed per size")
    args = parser.parse_args()
    if min(args.sizes) < 2:
        parser.error("a group needs at least 2 members: one commits, one processes")

    print("MLS (pure Python, suite 1): medians over", args.commits, "commits,", end=" ")
    print(args.messages, "messages of", len(PAYLOAD), "bytes")
    header = ("members", "build s", "commit ms", "process ms", "encrypt/s", "decrypt/s")
    print("  ".join(f"{h:>10}" for h in header))
    for size in args.sizes:
        f = measure(size, args.commits, args.messages)
        row = (
            f"{f.size:>10}",
            f"{f.build_s:>10.2f}",
            f"{f.commit_s * 1000:>10.1f}",
            f"{f.process_s * 1000:>10.1f}",
            f"{f.encrypt_per_s:>10.0f}",
            f"{f.decrypt_per_s:>10.0f}",
        )
        print("  ".join(row), flush=True)


if __name__ == "__main__":
    main()
