"""One whole function: blocks are copied into chains, each chain is a case of a dispatch loop
(a binary tree of ifs over the case number), and the result is one Python function's source.
"""

from vm.errors import BrokenInvariant
from vm.isa import Op
from vm.translate.instructions import InstructionTranslator
from vm.translate.kinds import BOOL, KIND_OF_VALUE_TYPE, PY_NAME, successors
from vm.translate.stack import GOTO, MAX_INLINE_BLOCK, Chain
from vm.validate import Block, Instr

INDENT = " "  # one space per level: generated code can nest deep, and parsing is linear in it


class FunctionTranslator(InstructionTranslator):
    """Translates one function: control flow between blocks, and the function around them."""

    # control flow

    def goto(self, start: int, inline: bool = True) -> Block | None:
        """Leave for block `start` (materializing the stack into s0..sN), or return it to be
        copied inline next. A taken branch never copies, so nesting stays flat."""
        chain = self.chain
        if inline and start != chain.head and self.can_inline(start):
            return self.blocks[start]
        self.flush()
        if start == chain.head:
            chain.loops = True
        elif start not in self.cases:
            self.cases[start] = len(self.cases)
            self.heads.append(start)
        chain.lines.append((self.indent, GOTO, start))
        return None

    def can_inline(self, start: int) -> bool:
        """Copy a block into the chain if that costs no copy (it is reached only by falling
        through and was not emitted yet), or if it is a short block that jumps back to the
        chain's head (a loop's latch: copying it saves a dispatch per iteration)."""
        if start in self.chain.visited:
            return False
        if start not in self.targets and start not in self.emitted:
            return True
        block = self.blocks[start]
        size = len(block.instrs)
        latch = self.chain.head in successors(block)
        return latch and size <= MAX_INLINE_BLOCK and size <= self.budget

    def emit_block(self, block: Block) -> Block | None:
        """Translate one block; returns the block to copy after it, if any."""
        self.chain.visited.add(block.start)
        if block.start in self.emitted:
            self.budget -= len(block.instrs)
        self.emitted.add(block.start)
        self.emit(f"if (g := g - {block.gas}) < 0: raise OutOfGas")
        pos, last = 0, len(block.instrs) - 1
        while pos < last:
            pos += self.emit_op(block, pos)
        if pos == last:
            return self.emit_last(block, block.instrs[pos])
        return self.goto(block.last.next)  # the last instruction, a STORE, was fused

    def emit_last(self, block: Block, ins: Instr) -> Block | None:
        op = ins.op
        if op is Op.JUMP:
            return self.goto(ins.arg)
        elif op in (Op.JUMPF, Op.JUMPT):
            c = self.pop()
            if c.kind != BOOL:
                c = self.atom(c)
                self.check_kind(c, BOOL, f"bad({self.where(ins)}, {int(op)}, {c.expr})")
            if self.dirty():
                c = self.copy(c)  # the flush below may overwrite an s<k> it reads
            self.flush()  # on the main path, so the taken branch has nothing to store
            taken = c.expr if op is Op.JUMPT else f"not {c.expr}"
            self.emit(f"if {taken}:")
            self.indent += 1
            self.goto(ins.arg, inline=False)
            self.indent -= 1
            return self.goto(ins.next)
        self.emit_op(block, len(block.instrs) - 1)
        if op in (Op.RET, Op.RETV, Op.REVERT):
            return None
        return self.goto(ins.next)

    # whole function

    def emit_chain(self, head: int) -> Chain:
        self.chain = Chain(head)
        self.indent = 0
        self.base_kinds, local_kinds = self.kinds[head]
        height = self.blocks[head].height
        if height is None:
            raise BrokenInvariant("a block that no path reaches was translated")
        self.base, self.stack, self.clean, self.readers = height, [], 0, {}
        self.locs = list(local_kinds)
        block: Block | None = self.blocks[head]
        while block is not None:
            block = self.emit_block(block)
        return self.chain

    def translate(self) -> str:
        chains: dict[int, Chain] = {}
        heads = self.heads
        for head in heads:  # grows while chains name new cases
            chains[head] = self.emit_chain(head)
        f = self.cf.function
        params = "".join(f", l{i}" for i in range(len(f.params)))
        consts = "".join(f", k{i}=K[{i}]" for i in sorted(self.consts))
        out: list[tuple[int, str]] = [
            (0, f"def f{self.cf.index}(g, d, u, H{params}, *, W=W{self.cf.index}{consts}):"),
            (1, "try:"),
        ]
        for i, param in enumerate(f.params):
            expected = PY_NAME[KIND_OF_VALUE_TYPE[param]]
            check = f"bad_arg({self.sites.ref(f.name)}, {i}, {expected!r}, l{i})"
            out.append((2, f"if type(l{i}) is not {expected}: {check}"))
        out += [(2, f"l{i} = 0") for i in range(len(f.params), f.locals)]
        if len(heads) > 1:
            out += [(2, "b = 0"), (2, "while True:")]
            self.dispatch(heads, chains, 3, out)
        else:
            self.render(chains[0], 2, out)
        out += [
            (1, "except Halt as _e:"),
            (2, "if _e.gas is None:"),
            (3, "_e.gas = g"),
            (2, "raise"),
        ]
        return "".join(f"{INDENT * level}{text}\n" for level, text in out)

    def dispatch(
        self, heads: list[int], chains: dict[int, Chain], level: int, out: list[tuple[int, str]]
    ) -> None:
        """A binary tree of ifs over the case number (heads are in case order), so a dispatch
        costs O(log cases)."""
        if len(heads) <= 3:
            for n, head in enumerate(heads):
                if n == 0:
                    out.append((level, f"if b == {self.cases[head]}:"))
                elif n < len(heads) - 1:
                    out.append((level, f"elif b == {self.cases[head]}:"))
                else:
                    out.append((level, "else:"))
                self.render(chains[head], level + 1, out)
            return
        mid = len(heads) // 2
        out.append((level, f"if b < {self.cases[heads[mid]]}:"))
        self.dispatch(heads[:mid], chains, level + 1, out)
        out.append((level, "else:"))
        self.dispatch(heads[mid:], chains, level + 1, out)

    def render(self, chain: Chain, level: int, out: list[tuple[int, str]]) -> None:
        if chain.loops:
            out.append((level, "while True:"))
            level += 1
        for indent, text, target in chain.lines:
            if text != GOTO:
                out.append((level + indent, text))
            elif target == chain.head:
                out.append((level + indent, "continue"))
            else:
                out.append((level + indent, f"b = {self.cases[target]}"))
                out.append((level + indent, "break" if chain.loops else "continue"))
