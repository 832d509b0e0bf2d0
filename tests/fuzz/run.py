"""Run one fuzz target under atheris (coverage-guided, libFuzzer).

    python -m tests.fuzz.run TARGET [CORPUS_DIR] [libFuzzer flags, e.g. -runs=100000]

With no corpus folder it reads and grows tests/fuzz/corpus/TARGET. A crash (an exception a
decoder does not document, or a broken round trip) stops the run and writes the input as
crash-* in the working folder (or -artifact_prefix=): add it to the corpus with its fix.
libFuzzer prints its progress and, at the end, the number of inputs executed. Half the
mutations are structure-aware (tests/fuzz/mutate.py), half libFuzzer's own.
"""

import sys

import atheris

with atheris.instrument_imports(include=["chain", "node", "genesis", "contracts_std"]):
    from tests.fuzz.targets import TARGETS

from tests.fuzz.mutate import mutate
from tests.fuzz.seeds import CORPUS


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] not in TARGETS:
        names = ", ".join(TARGETS)
        sys.exit(f"usage: python -m tests.fuzz.run TARGET [CORPUS] [flags]; targets: {names}")
    name, rest = argv[1], argv[2:]
    if not any(not arg.startswith("-") for arg in rest):
        rest = [*rest, str(CORPUS / name)]
    target = TARGETS[name]
    atheris.Setup([argv[0], *rest], target, custom_mutator=mutate)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
