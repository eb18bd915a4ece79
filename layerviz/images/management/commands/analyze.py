"""``python manage.py analyze REF`` — efficiency of an indexed image, dive-compatible.

* ``--json FILE`` writes the document ``dive --json`` writes, with the same numbers;
* ``--ci`` (or ``CI=true`` in the environment, as for dive) applies dive's CI rules — its flags,
  their defaults and its ``.dive-ci`` file — prints PASS/FAIL/SKIP per rule and exits non-zero
  when one fails, so it can stand in for dive in a pipeline;
* otherwise it prints dive's figures beside layerviz's own accounting and the advice.

Paths and names go out as dive prints them, byte for byte, when the output is not a terminal
(dive parity, for pipelines); on a terminal their control characters are shown as escapes
(``lib/terminal``), so that a hostile file name cannot drive the terminal.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser

from layerviz.images import efficiency, faults
from layerviz.images.lookup import ImageNotFound, find_image
from layerviz.lib import dive, dive_ci, goformat, terminal
from layerviz.lib.units import human_bytes, layer_no


def _truthy(value: str | None) -> bool:
    # dive 0.13.1 reads CI with Go's strconv.ParseBool.
    return (value or "").strip() in ("1", "t", "T", "TRUE", "true", "True")


class Command(BaseCommand):
    help = (
        "Efficiency of an indexed image: dive's numbers, layerviz's, and advice. With --ci, "
        "paths are printed byte for byte as dive prints them when the output is not a "
        "terminal; on a terminal their control characters are shown escaped (\\x1b, \\u202e)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ref", help="name, digest or image ID of an indexed image")
        parser.add_argument(
            "--json", dest="json_file", help="write dive's --json document to this file"
        )
        parser.add_argument(
            "--ci", action="store_true", help="validate against CI rules (same as CI=true)"
        )
        parser.add_argument(
            "--ci-config", default=".dive-ci", help="YAML file with rules (default .dive-ci)"
        )
        for rule in dive_ci.RULES:
            parser.add_argument(
                f"--{rule}", dest=rule, default=None, help=f"default {dive_ci.DEFAULT_RULES[rule]}"
            )

    def handle(self, *args: object, **opts: object) -> None:
        with faults.as_command_error():
            self._analyze(opts)

    def _analyze(self, opts: dict) -> None:
        try:
            image = find_image(str(opts["ref"]))
        except ImageNotFound as exc:
            raise CommandError(str(exc)) from None
        if opts["json_file"]:
            result = efficiency.dive_analysis(image)
            Path(str(opts["json_file"])).write_text(
                goformat.dumps(dive.export(result)), encoding="utf-8"
            )
            return
        if opts["ci"] or _truthy(os.environ.get("CI")):
            self._ci(image, opts)
            return
        self._summary(image)

    def _rules(self, opts: dict) -> dict[str, str]:
        """Flags given on the command line win over the file, the file over the defaults."""
        rules = dict(dive_ci.DEFAULT_RULES)
        name = str(opts["ci_config"])
        path = Path(name)
        if path.exists():
            self.stdout.write(f"  Using CI config: {name}")
            try:
                rules.update(dive_ci.read_ci_config(path.read_text(encoding="utf-8")))
            except OSError as exc:
                self._config_error(
                    f"{'read' if path.is_dir() else 'open'} {name}: {(exc.strerror or str(exc)).lower()}"
                )
            except UnicodeDecodeError:
                self._config_error("While parsing config: yaml: invalid UTF-8 in the file")
            except dive_ci.CiConfigError as exc:
                self._config_error(str(exc))
        else:
            self.stdout.write("  Using default CI config")
        for rule in dive_ci.RULES:
            if opts.get(rule) is not None:
                rules[rule] = str(opts[rule])
        return rules

    def _config_error(self, message: str) -> NoReturn:
        # As dive does: say why on stdout, exit 1 before looking at the image.
        self.stdout.write(f"ci configuration error: {message}")
        raise SystemExit(1)

    def _ci(self, image, opts: dict) -> None:
        rules = self._rules(opts)
        names = image.names or [image.digest]
        show = terminal.for_stream(self.stdout)
        self.stdout.write(f"Image Source: layerviz://{show(names[0])}")
        self.stdout.write("Analyzing image...")
        result = efficiency.dive_analysis(image)
        passed, results, misconfigured = dive_ci.evaluate(result, rules)
        # dive prints a path's bytes as they are; a byte that is not UTF-8 is held here as a
        # surrogate escape, which a real stdout must be told to write back as that byte.
        reconfigure = getattr(self.stdout, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="surrogateescape")
        self.stdout.write(dive_ci.ci_report(result, results, passed, misconfigured, show))
        if not passed:
            raise SystemExit(1)

    def _summary(self, image) -> None:
        figures = efficiency.analyze(image).figures
        d, o = figures.dive, figures.ours
        ratio = d.user_wasted_percent
        write = self.stdout.write
        write("dive v0.13.1 figures:")
        write(f"  image size           {d.size} bytes ({human_bytes(d.size)})")
        write(f"  efficiency           {goformat.go_fixed(d.score * 100)} %")
        write(
            f"  wasted bytes         {d.wasted} bytes ({human_bytes(d.wasted)}), every copy counted"
        )
        write(
            f"  user wasted percent  {'n/a' if ratio is None else goformat.go_fixed(ratio * 100)} %"
        )
        write("layerviz figures:")
        write(f"  bytes written        {o.written} bytes ({human_bytes(o.written)})")
        write(
            f"  reclaimable          {o.reclaimable} bytes ({human_bytes(o.reclaimable)}), each copy once"
        )
        write(f"  efficiency           {goformat.go_fixed(o.score * 100)} %")
        for reason, (size, files) in o.by_reason.items():
            write(f"    {reason:<12} {human_bytes(size):>10} in {files} files")
        if figures.advice:
            write("advice:")
            for finding in figures.advice:
                layers = ", ".join(layer_no(n) for n in finding.layers)
                write(
                    f"  {finding.code:<18} saves {human_bytes(finding.saving):>10}  layers {layers}"
                )
