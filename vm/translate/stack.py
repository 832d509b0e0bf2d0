"""The translator's state and its model of the operand stack.

Within a chain of blocks the stack is s0..s{base-1} (untouched since the chain's head, their
kinds known) under entries, each a Python expression with its kind. A pure expression stays
pending until it is needed as a plain name, a local it reads is about to be overwritten, or a
jump may leave for another block (flush stores every changed slot into its s<k>).
The base of FunctionTranslator: instructions.py and function.py add to it in that order.
"""

from dataclasses import dataclass

from vm.errors import BrokenInvariant
from vm.isa import Op
from vm.ops import where_of
from vm.translate.kinds import PY_NAME, KindStack, block_kinds
from vm.validate import Block, CheckedFunction, Instr, ValidatedModule


@dataclass(frozen=True)
class Entry:
    """A stack slot during translation: a Python expression, its kind, the locals it reads
    (it must be computed before one of them is overwritten) and whether it is a plain name or
    literal (safe to repeat)."""

    expr: str
    kind: int
    reads: frozenset[int] = frozenset()
    atom: bool = True


GOTO = "\0goto"
MAX_INLINE_BLOCK = 64  # instructions: a jump target longer than this is never copied


class Sites:
    """Messages' `where` strings, shared by all generated functions of a program as W[i]."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.index: dict[str, int] = {}

    def ref(self, text: str) -> str:
        i = self.index.get(text)
        if i is None:
            i = self.index[text] = len(self.items)
            self.items.append(text)
        return f"W[{i}]"


class Chain:
    """One dispatch case: a head block and the blocks copied after it, as lines of code."""

    def __init__(self, head: int) -> None:
        self.head = head
        self.lines: list[tuple[int, str, int]] = []  # (indent, text or GOTO, target)
        self.visited = {head}
        self.loops = False


class StackTranslator:
    """One function's translation state, and the tools that keep the operand stack."""

    def __init__(self, vm: ValidatedModule, cf: CheckedFunction, sites: Sites) -> None:
        self.vm = vm
        self.cf = cf
        self.sites = sites
        self.blocks = cf.block_map
        self.kinds = block_kinds(vm, cf)
        self.targets = {i.arg for i in cf.instrs if i.op in (Op.JUMP, Op.JUMPF, Op.JUMPT)}
        self.cases: dict[int, int] = {0: 0}  # block start -> case number
        self.heads = [0]  # block starts in case order
        self.emitted: set[int] = set()
        self.budget = len(cf.instrs) // 2 + MAX_INLINE_BLOCK  # for instructions emitted twice
        self.consts: set[int] = set()
        self.temps = 0
        # per-chain state. The stack is s0..s{base-1} (untouched, kinds in base_kinds) under
        # the entries in `stack`, of which the first `clean` are still s{base}.. themselves.
        self.chain = Chain(0)
        self.indent = 0
        self.base = 0
        self.base_kinds: KindStack = None
        self.stack: list[Entry] = []
        self.clean = 0
        self.readers: dict[int, int] = {}  # local -> pending stack entries that read it
        self.locs: list[int] = []

    # small tools

    def emit(self, text: str) -> None:
        self.chain.lines.append((self.indent, text, -1))

    def temp(self) -> str:
        self.temps += 1
        return f"t{self.temps}"

    def where(self, ins: Instr) -> str:
        return self.sites.ref(where_of(self.cf, ins.offset))

    def atom(self, e: Entry) -> Entry:
        return e if e.atom else self.copy(e)

    def copy(self, e: Entry) -> Entry:
        name = self.temp()
        self.emit(f"{name} = {e.expr}")
        return Entry(name, e.kind)

    def push(self, e: Entry) -> None:
        self.stack.append(e)
        for i in e.reads:
            self.readers[i] = self.readers.get(i, 0) + 1

    def reach(self, n: int) -> None:
        """Make the top n slots explicit entries (taking untouched ones from the base)."""
        while len(self.stack) < n:
            self.base -= 1
            if self.base_kinds is None:
                raise BrokenInvariant("the block's base stack ran out")
            kind, self.base_kinds = self.base_kinds
            self.stack.insert(0, Entry(f"s{self.base}", kind))
            self.clean += 1

    def peek(self, n: int) -> list[Entry]:
        self.reach(n)
        return self.stack[len(self.stack) - n :]

    def pop(self) -> Entry:
        self.reach(1)
        e = self.stack.pop()
        self.clean = min(self.clean, len(self.stack))
        for i in e.reads:
            self.readers[i] -= 1
        return e

    def changed(self) -> list[tuple[str, str]]:
        """(s<k>, expression) of every slot whose value is not in its s<k> yet."""
        return [
            (f"s{self.base + j}", self.stack[j].expr)
            for j in range(self.clean, len(self.stack))
            if self.stack[j].expr != f"s{self.base + j}"
        ]

    def dirty(self) -> bool:
        return bool(self.changed())

    def flush(self) -> None:
        """Store every changed slot into its s<k>, so paths that leave from here need not."""
        pairs = self.changed()
        if pairs:
            self.emit(f"{', '.join(n for n, _ in pairs)} = {', '.join(x for _, x in pairs)}")
        for j in range(self.clean, len(self.stack)):
            e = self.stack[j]
            for i in e.reads:
                self.readers[i] -= 1
            self.stack[j] = Entry(f"s{self.base + j}", e.kind)
        self.clean = len(self.stack)

    def pop_atoms(self, n: int) -> list[Entry]:
        items = [self.pop() for _ in range(n)]
        return [self.atom(e) for e in reversed(items)]

    def free_local(self, i: int) -> None:
        """Compute every pending expression that reads local i before it is overwritten.
        Scans down only while some remain, so the scans are paid for by the pushes."""
        k = len(self.stack)
        while self.readers.get(i, 0):
            k -= 1
            e = self.stack[k]
            if i in e.reads:
                name = self.temp()
                self.emit(f"{name} = {e.expr}")
                for j in e.reads:
                    self.readers[j] -= 1
                self.stack[k] = Entry(name, e.kind)

    def target(self, block: Block, pos: int) -> tuple[str, int]:
        """Where an op at instrs[pos] puts its result: straight into a local when the next
        instruction stores it (a fault after that discards the frame anyway), else a temp.
        Returns the name and how many instructions were consumed."""
        if pos + 1 < len(block.instrs) and block.instrs[pos + 1].op is Op.STORE:
            i = block.instrs[pos + 1].arg
            self.free_local(i)
            return f"l{i}", 2
        return self.temp(), 1

    def result(self, name: str, kind: int) -> None:
        if name.startswith("l"):
            self.locs[int(name[1:])] = kind
        else:
            self.push(Entry(name, kind))

    def check_kind(self, e: Entry, kind: int, failure: str) -> None:
        if e.kind != kind:
            self.emit(f"if type({e.expr}) is not {PY_NAME[kind]}: {failure}")
