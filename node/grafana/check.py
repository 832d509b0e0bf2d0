"""A dashboard's JSON checked against Grafana's own dashboard schema.

Grafana defines dashboards in CUE and publishes the types generated from it as the npm package
@grafana/schema: the dashboard, its panels, rows, variables and annotations, and each panel
plugin's options. The TypeScript compiler holds the JSON to those types: the JSON becomes an
expression that must `satisfy` the Dashboard type, each panel's options and custom field config
held to its own plugin's types (timeseries, stat, bargauge). An unknown or misspelt key, a
missing required field, a wrong type or a value outside an enum is a compile error, reported at
its line of the JSON. Both packages are devDependencies of the explorer (node/explorer/web),
installed with it by `make install`.

`python -m node.grafana.check FILE...` checks files by hand.
"""

import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

MODULES = Path(__file__).resolve().parents[1] / "explorer" / "web" / "node_modules"
SCHEMA = "@grafana/schema"
# The panel plugins a dashboard may use here, by type: their options' module in @grafana/schema.
PANEL_PLUGINS = {"timeseries": "TimeSeries", "stat": "Stat", "bargauge": "BarGauge"}

# Enums are TypeScript enums there, and JSON holds their values: Json<T> turns each string enum
# into the union of its values (numeric enums take number literals as they are).
_PRELUDE = """\
import type {{
  Dashboard, DataQuery, FieldConfig, FieldConfigSource, Panel, RowPanel,
}} from "{schema}";
{imports}
type Json<T> = T extends string ? `${{T}}`
  : T extends number | boolean | null | undefined ? T
  : T extends readonly (infer U)[] ? Json<U>[]
  : T extends object ? {{ [K in keyof T]: Json<T[K]> }}
  : T;
type Fields<C> = Omit<FieldConfigSource, "defaults"> & {{
  defaults: Omit<FieldConfig, "custom"> & {{ custom?: C }};
}};
type Viz<T extends string, O, C> = Omit<Panel, "type" | "options" | "fieldConfig" | "targets"> & {{
  type: T; options: O; fieldConfig: Fields<C>; targets: (DataQuery & Record<string, unknown>)[];
}};
type AnyPanel = {panels} | RowPanel;
type Checked = Json<Omit<Dashboard, "panels"> & {{ panels: AnyPanel[] }}>;
export const dashboard = (
"""
_ERROR = re.compile(r"^dashboard\.ts\((\d+),(\d+)\): error (TS\d+): (.*)$")


class CheckUnavailable(Exception):
    """The compiler or Grafana's schema package is not installed."""


def prelude() -> str:
    imports, panels = [], []
    for kind, name in PANEL_PLUGINS.items():
        module = f"{SCHEMA}/dist/esm/raw/composable/{kind}/panelcfg/x/{name}PanelCfg_types.gen"
        imports.append(f'import type * as {kind} from "{module}";')
        custom = f"{kind}.FieldConfig" if kind == "timeseries" else "{}"
        panels.append(f'Viz<"{kind}", {kind}.Options, {custom}>')
    return _PRELUDE.format(schema=SCHEMA, imports="\n".join(imports), panels=" | ".join(panels))


def check(text: str, modules: Path = MODULES) -> list[str]:
    """The schema errors of a dashboard's JSON text, each as `line N: TSxxxx message`; none
    when it is valid. Raises ValueError when the text is not JSON at all."""
    json.loads(text)  # JSON first: TypeScript would also take comments and trailing commas
    tsc = modules / ".bin" / "tsc"
    if not tsc.exists() or not (modules / SCHEMA / "package.json").exists():
        raise CheckUnavailable(
            f"{tsc} or {modules / SCHEMA} is missing: `make install` installs the explorer's "
            "npm packages (node/explorer/web)"
        )
    head = prelude()
    first_line = head.count("\n") + 1  # the JSON's first line in the TypeScript file
    with tempfile.TemporaryDirectory(prefix="gridchain-dashboard-") as tmp:
        source = Path(tmp) / "dashboard.ts"
        source.write_text(head + text + ") satisfies Checked;\n")
        paths = {SCHEMA: [str(modules / SCHEMA)], f"{SCHEMA}/*": [str(modules / SCHEMA / "*")]}
        options = {
            "strict": True,
            "noEmit": True,
            "module": "preserve",
            "moduleResolution": "bundler",
            "skipLibCheck": True,
            "types": [],
            "paths": paths,
        }
        config = Path(tmp) / "tsconfig.json"
        config.write_text(json.dumps({"compilerOptions": options, "files": ["dashboard.ts"]}))
        done = subprocess.run(
            [str(tsc), "-p", str(config), "--pretty", "false"],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    errors: list[str] = []
    for line in done.stdout.splitlines():
        found = _ERROR.match(line)
        if found is not None:
            row, code, message = int(found[1]) - first_line + 1, found[3], found[4]
            where = f"line {row}" if row >= 1 else "the schema's types"
            errors.append(f"{where}: {code} {message}")
        elif errors and line.startswith(" "):
            errors[-1] += "\n" + line  # an error's elaboration
    if done.returncode != 0 and not errors:
        raise RuntimeError(f"tsc failed without a diagnostic: {done.stdout}{done.stderr}")
    return errors


def main(argv: Sequence[str]) -> int:
    failed = False
    for name in argv:
        errors = check(Path(name).read_text())
        for error in errors:
            print(f"{name}: {error}")
        failed = failed or bool(errors)
        if not errors:
            print(f"{name}: valid")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
