import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from leads.imports import FORMATS, ImportFileError, leads_import

PHASES = {"read": "Reading rows", "match": "Matching leads", "write": "Writing leads",
          "score": "Scoring leads"}


class Command(BaseCommand):
    help = (
        "Import leads from a CSV file: a HubSpot contacts export (--format hubspot) or FunnelCRM's "
        "own columns (--format csv, see the README). Prints the counts and one 'line N: reason' "
        "per rejected row; exits 1 when a row was rejected, 0 otherwise. Re-importing a file "
        "changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="The CSV file (UTF-8).")
        parser.add_argument("--format", required=True, choices=sorted(FORMATS))

    def handle(self, *args, path, format, **options):
        file = Path(path)
        if not file.is_file():
            raise CommandError(f"No such file: {path}")
        bars: dict[str, tqdm] = {}

        def progress(phase: str, done: int, total: int) -> None:
            bar = bars.get(phase)
            if bar is None:
                for other in bars.values():
                    other.close()
                bar = bars[phase] = tqdm(desc=PHASES[phase], unit="row", file=sys.stderr)
            if total:
                bar.total = total
            bar.update(done - bar.n)

        try:
            with file.open(encoding="utf-8-sig", newline="") as stream:
                report = leads_import(file=stream, format=format, progress=progress)
        except ImportFileError as exc:
            raise CommandError(f"{path}: {exc} Nothing was imported.") from exc
        except UnicodeDecodeError as exc:
            raise CommandError(
                f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}). Save the file as "
                "UTF-8 CSV and try again. Nothing was imported."
            ) from exc
        finally:
            for bar in bars.values():
                bar.close()

        rate = report.rows / report.seconds if report.seconds else 0
        self.stdout.write(
            f"Imported {path} ({format}): {report.summary} "
            f"({report.rows} rows in {report.seconds:.1f} s, {rate:,.0f} rows/s)."
        )
        for line, reason in report.rejected:
            self.stdout.write(f"line {line}: {reason}")
        if report.rejected:
            sys.exit(1)
