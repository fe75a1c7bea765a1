"""Cold start: process start to first answered request, and the import time of the app against `import boto3`,
all in fresh interpreters, interleaved, median of N.

    python -m benchmarks.cold_start [--runs 7] [--asset-python /path/to/python3.13]

- `uvicorn --factory router.http.app:create_app_from_env` (the Lambda's factory, what the Lambda Web Adapter
  runs), ROUTER_CONFIG_FILE=config/routing.json, AWS_REGION set, the Lambda's Powertools settings (tracing off):
  spawn to the first 200 of POST /v1/route with dry_run (routing decided, no model called: there is no Bedrock
  here). The configuration is loaded by that first request, as in Lambda.
- The same factory with the real boto3 bedrock-runtime client pointed at benchmarks.mock_upstreams
  (`AWS_ENDPOINT_URL_BEDROCK_RUNTIME`, the Lambda Web Adapter's headers, as benchmarks/production_path.py runs it):
  spawn to the first 200 of a real POST /v1/chat/completions: the first answer a Lambda environment gives,
  configuration load, the first botocore client (its service model) and the Converse call included.
- `python -m local.server --latency-scale 0`: spawn to the first 200 of POST /v1/chat/completions (simulated).
- `import router.http.app`, the same plus `create_app_from_env()` (what uvicorn does before it serves; it makes
  the boto3 client factory), and `import boto3` alone, each in a fresh interpreter (.pyc files compiled first).
- Where the import time goes: `python -X importtime -c "import router.http.app"` (and boto3), self time summed by
  top-level package, median over the runs.
- The Lambda asset as staged (stacks/lambda_asset.py, for this machine's platform and Python), read-only as
  /var/task is, with and without the bytecode the staging compiles: process start to `import router.http.app`
  done and to the first dry-run answer, `python -S` with only the asset and the runtime's and Powertools layer's
  packages on the path (benchmarks/lambda_sandbox.py; those, like the stdlib, keep their compiled cache), and the
  `-X importtime` self time by package of both. Without bytecode each cold start compiles every module of the
  asset (ours, starlette, uvicorn, anyio, ...) from source. `--asset-python` runs these rows with another Python
  (the Lambda's is 3.13): the asset's and the runtime's packages are then installed for its version (pip, cached)
  and compiled by it.
The client polls every 5 ms, so the times are at most 5 ms late. Goal (issue 18): importing the app at most 1.2x
`import boto3`, process start to first answer at most 0.4 s.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks._common import PROMPT, ROOT, Server, bench_env, free_port, median, running, spread, table
from benchmarks.lambda_sandbox import lambda_asset_module, runtime_and_layer_dir, sandbox_env, set_read_only

if TYPE_CHECKING:
    from stacks.lambda_asset import Platform

lambda_asset = lambda_asset_module()  # the synth's staging, without starting aws-cdk-lib

IMPORT_SNIPPET = "import time; t = time.perf_counter(); import {mod}; print((time.perf_counter() - t) * 1000)"
FACTORY_SNIPPET = (
    "import time; t = time.perf_counter(); from router.http.app import create_app_from_env; create_app_from_env(); "
    "print((time.perf_counter() - t) * 1000)"
)
IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( +)(\S+)$")
MESSAGES = [{"role": "user", "content": PROMPT}]


def import_ms(module: str, snippet: str = IMPORT_SNIPPET) -> float:
    done = subprocess.run(
        [sys.executable, "-c", snippet.format(mod=module)],
        env=bench_env(AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1"),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return float(done.stdout.strip().splitlines()[-1])


def factory_start_ms() -> float:
    from benchmarks.production_path import ours_argv  # the command the production path runs (Lambda's own start)

    port = free_port()
    server = Server(
        "uvicorn --factory create_app_from_env",
        ours_argv(port),
        port,
        bench_env(AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1"),
    )
    with running(server):
        return (
            server.wait_ready("/v1/route", timeout_s=60, body={"task": "faq", "messages": MESSAGES, "dry_run": True})
            * 1000
        )


def local_server_start_ms() -> float:
    port = free_port()
    server = Server(
        "local.server",
        [sys.executable, "-m", "local.server", "--port", str(port), "--latency-scale", "0"],
        port,
        bench_env(),
    )
    with running(server):
        return (
            server.wait_ready("/v1/chat/completions", timeout_s=60, body={"model": "faq", "messages": MESSAGES}) * 1000
        )


def self_time_by_package(
    module: str, env: dict[str, str] | None = None, flags: tuple[str, ...] = (), python: str = sys.executable
) -> dict[str, float]:
    """ms of import self time per top-level package, from `python -X importtime -c "import module"`."""
    done = subprocess.run(
        [python, *flags, "-X", "importtime", "-c", f"import {module}"],
        env=env or bench_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    out: dict[str, float] = defaultdict(float)
    for line in done.stderr.splitlines():
        m = IMPORTTIME.match(line)
        if m:
            out[m[4].split(".")[0]] += int(m[1]) / 1000
    return out


class ProductionFirstAnswer:
    """Spawn to the first real answer through botocore, against one mock started once (outside the timing)."""

    def __init__(self) -> None:
        from benchmarks.production_path import mock_server

        self.mock = mock_server(free_port())

    def __enter__(self) -> ProductionFirstAnswer:
        self.mock.start()
        self.mock.wait_ready("/v1/chat/completions", timeout_s=30, body={"model": "m", "messages": MESSAGES})
        return self

    def __exit__(self, *exc) -> None:
        self.mock.stop()

    def __call__(self) -> float:
        from benchmarks.production_path import lwa_headers, ours_server

        server = ours_server(free_port(), self.mock.port)
        with running(server):
            return (
                server.wait_ready(
                    "/v1/chat/completions",
                    timeout_s=60,
                    body={"model": "faq", "messages": MESSAGES},
                    headers=lwa_headers(),
                )
                * 1000
            )


class StagedAssets:
    """The Lambda asset staged twice, without and with bytecode, read-only, in a temporary directory (staged
    outside the timing), for this interpreter or for `python` (`--asset-python`, e.g. a Python 3.13 like the
    Lambda's: the asset's and the runtime's packages are then installed for its version and this machine)."""

    def __init__(self) -> None:
        self.root: Path | None = None
        self.assets: dict[bool, Path] = {}
        self.runtime = ""
        self.python = sys.executable

    def __enter__(self) -> StagedAssets:
        self.root = Path(tempfile.mkdtemp(prefix="cold-start-asset-"))
        self.python = os.path.abspath(shutil.which(self.python) or self.python)  # the rows run in another directory
        platform = self._platform_of(self.python)
        if platform.python_version == lambda_asset.HOST.python_version:
            platform = lambda_asset.HOST  # the same version: this venv's packages serve
        else:
            # this process's own environment: the staging compiles with it
            os.environ[lambda_asset.PYC_PYTHON_ENV] = self.python
            if lambda_asset.find_bytecode_compiler(platform.python_version)[0] is None:
                raise SystemExit(f"{self.python} cannot compile for Python {platform.python_version}")
        for bytecode in (False, True):
            self.assets[bytecode] = lambda_asset.stage_lambda_asset(
                source_dir=ROOT / "lambdas",
                routing_config=(ROOT / "config" / "routing.json").read_bytes(),
                staging_root=self.root / ("with" if bytecode else "without"),
                platform=platform,
                bytecode=bytecode,
            )
            set_read_only(self.assets[bytecode])
        if not any(self.assets[True].rglob("*.pyc")):
            raise SystemExit("the asset staged with bytecode has no .pyc files: see the staging's message above")
        if platform is lambda_asset.HOST:
            self.runtime = runtime_and_layer_dir(self.root / "runtime")
        else:
            self.runtime = self._runtime_for(platform)
        return self

    @staticmethod
    def _platform_of(python: str) -> Platform:
        version = subprocess.run(
            [python, "-I", "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        machine = os.uname().machine
        return lambda_asset.Platform(
            platforms=(f"manylinux_2_28_{machine}", f"manylinux2014_{machine}"), python_version=version
        )

    def _runtime_for(self, platform: Platform) -> str:
        """The runtime's and the Powertools layer's packages, at this venv's versions, installed for `platform`
        and compiled by the asset's Python (as the runtime and the layer are assumed to be: see docs/decisions.md)."""
        import importlib.metadata

        from benchmarks.lambda_sandbox import RUNTIME_AND_LAYER

        assert self.root is not None
        pins = self.root / "runtime-requirements.txt"
        pins.write_text("".join(f"{d}=={importlib.metadata.version(d)}\n" for d in RUNTIME_AND_LAYER))
        runtime = self.root / "runtime"
        shutil.copytree(lambda_asset.install_requirements(pins, platform=platform), runtime, symlinks=True)
        subprocess.run(
            [self.python, "-I", "-m", "compileall", "-q", str(runtime)], check=True, stdout=subprocess.DEVNULL
        )
        return str(runtime)

    def __exit__(self, *exc) -> None:
        if self.root is not None:
            set_read_only(self.root, read_only=False)
            shutil.rmtree(self.root, ignore_errors=True)

    def env(self, bytecode: bool) -> dict[str, str]:
        return sandbox_env(
            self.assets[bytecode], self.runtime, bench_env(AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1")
        )

    def import_ms(self, bytecode: bool) -> float:
        """Process start to `import router.http.app` done (the interpreter's own start included), in ms."""
        started = time.perf_counter()
        subprocess.run(
            [self.python, "-S", "-c", "import router.http.app"],
            env=self.env(bytecode),
            check=True,
            timeout=60,
            cwd=self.root,
        )
        return (time.perf_counter() - started) * 1000

    def first_answer_ms(self, bytecode: bool) -> float:
        from benchmarks.production_path import ours_argv

        port = free_port()
        argv = ours_argv(port)
        server = Server("staged asset", [self.python, "-S", *argv[1:]], port, self.env(bytecode), cwd=str(self.root))
        with running(server):
            return (
                server.wait_ready(
                    "/v1/route", timeout_s=60, body={"task": "faq", "messages": MESSAGES, "dry_run": True}
                )
                * 1000
            )

    def compiled_from_source(self, bytecode: bool, modules: str = "router.http.app") -> list[Path]:
        """The asset's source files `import modules` compiles (`python -v` names each: "code object from <file>.py",
        where a module read from its pyc names the pyc, quoted)."""
        done = subprocess.run(
            [self.python, "-S", "-v", "-c", f"import {modules}"],
            env=self.env(bytecode),
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
            cwd=self.root,
        )
        prefix = f"# code object from {self.assets[bytecode]}/"
        return [
            Path(line.removeprefix("# code object from "))
            for line in done.stderr.splitlines()
            if line.startswith(prefix)
        ]

    def self_time_by_package(self, bytecode: bool) -> dict[str, float]:
        return self_time_by_package("router.http.app", self.env(bytecode), ("-S",), self.python)


PRODUCTION = ProductionFirstAnswer()
ASSETS = StagedAssets()
ASSET_IMPORT = "Lambda asset as staged, {}: process start to import router.http.app done"
ASSET_ANSWER = "Lambda asset as staged, {}: uvicorn + create_app_from_env, first dry-run answer"
NO_BYTECODE, WITH_BYTECODE = "no bytecode", "with bytecode"
VARIANTS: dict[str, Callable[[], float]] = {
    "uvicorn + create_app_from_env: first dry-run answer": factory_start_ms,
    "uvicorn + create_app_from_env: first answer via botocore (mock Bedrock)": PRODUCTION,
    "python -m local.server: first simulated answer": local_server_start_ms,
    "import router.http.app": lambda: import_ms("router.http.app"),
    "import router.http.app + create_app_from_env()": lambda: import_ms("", FACTORY_SNIPPET),
    "import boto3": lambda: import_ms("boto3"),
    ASSET_IMPORT.format(NO_BYTECODE): lambda: ASSETS.import_ms(bytecode=False),
    ASSET_IMPORT.format(WITH_BYTECODE): lambda: ASSETS.import_ms(bytecode=True),
    ASSET_ANSWER.format(NO_BYTECODE): lambda: ASSETS.first_answer_ms(bytecode=False),
    ASSET_ANSWER.format(WITH_BYTECODE): lambda: ASSETS.first_answer_ms(bytecode=True),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--asset-python",
        default=sys.executable,
        help="the Python that runs the staged asset's rows (default: this one); e.g. a python3.13 like the Lambda's",
    )
    args = parser.parse_args(argv)
    ASSETS.python = args.asset_python
    import_ms("router.http.app")  # compile .pyc files once
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    ratios, asset_ratios = [], []
    packages: dict[str, dict[str, list[float]]] = {"router.http.app": defaultdict(list), "boto3": defaultdict(list)}
    asset_packages: dict[bool, dict[str, list[float]]] = {False: defaultdict(list), True: defaultdict(list)}
    loads = []
    with PRODUCTION, ASSETS:
        for r in range(args.runs):  # interleaved, in alternating order, so machine noise hits every variant alike
            loads.append(os.getloadavg()[0])
            order = list(VARIANTS.items())[:: -1 if r % 2 else 1]
            for name, fn in order:
                samples[name].append(fn())
            ratios.append(samples["import router.http.app"][-1] / samples["import boto3"][-1])
            asset_ratios.append(
                samples[ASSET_IMPORT.format(NO_BYTECODE)][-1] / samples[ASSET_IMPORT.format(WITH_BYTECODE)][-1]
            )
            for module, acc in packages.items():
                for package, ms in self_time_by_package(module).items():
                    acc[package].append(ms)
            for bytecode, acc in asset_packages.items():
                for package, ms in ASSETS.self_time_by_package(bytecode).items():
                    acc[package].append(ms)
        compiled_lines = []
        for modules in ("router.http.app", "uvicorn.main, router.http.app"):
            compiled = {b: ASSETS.compiled_from_source(b, modules) for b in (False, True)}
            compiled_lines.append(
                f"python -S -v -c 'import {modules}' from the staged asset compiles {len(compiled[False])} of its "
                f"modules from source without bytecode ({sum(f.stat().st_size for f in compiled[False]) / 1e6:.2f} "
                f"MB), {len(compiled[True])} with"
            )
    rows = [[name, f"{median(v):.0f}", spread(v, 0)] for name, v in samples.items()]
    rows.append(["import router.http.app / import boto3 (per run)", f"{median(ratios):.2f}x", spread(ratios, 2)])
    rows.append(
        [
            "Lambda asset: process to import done, no bytecode / with bytecode (per run)",
            f"{median(asset_ratios):.2f}x",
            spread(asset_ratios, 2),
        ]
    )
    print(
        table(
            f"Cold start, ms; median of {args.runs} fresh processes each, interleaved (1-minute load average per "
            f"run: {', '.join(f'{x:.1f}' for x in loads)}, {os.cpu_count()} CPUs)",
            ["what", "median", "range"],
            rows,
        )
    )
    for module, acc in packages.items():
        top = sorted(((median(v), k) for k, v in acc.items()), reverse=True)[:12]
        total = sum(median(v) for v in acc.values())
        print()
        print(
            table(
                f"python -X importtime -c 'import {module}': self time by top-level package, ms (median of "
                f"{args.runs}); all packages together {total:.0f} ms",
                ["package", "ms", "share"],
                [[k, f"{ms:.1f}", f"{100 * ms / total:.0f}%"] for ms, k in top],
            )
        )
    print()
    print("\n".join(compiled_lines))
    without, with_ = ({k: median(v) for k, v in asset_packages[b].items()} for b in (False, True))
    top_asset = sorted(without, key=lambda k: without[k] - with_.get(k, 0.0), reverse=True)[:12]
    print()
    print(
        table(
            f"python -S -X importtime -c 'import router.http.app' from the read-only staged Lambda asset: self time by "
            f"top-level package, ms (median of {args.runs}), no bytecode vs with; all packages together "
            f"{sum(without.values()):.0f} vs {sum(with_.values()):.0f} ms",
            ["package", NO_BYTECODE, WITH_BYTECODE, "compiling costs"],
            [
                [k, f"{without[k]:.1f}", f"{with_.get(k, 0.0):.1f}", f"{without[k] - with_.get(k, 0.0):.1f}"]
                for k in top_asset
            ],
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
