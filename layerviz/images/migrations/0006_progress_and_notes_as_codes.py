# Progress phases, layer flags and chain notes were stored as English sentences and matched
# back to be translated; they are stored as codes (with parameters) now. The sentences of
# before are turned into the codes here (the words are copied: later code may change them).

import re

from django.db import migrations, models

PHASES = {
    "reading the image's manifest and config": "config",
    "reading": "reading",
    "working out what each layer changed": "changes",
    "saving the image": "saving",
    "done": "done",
}
WAITING = "waiting for another worker to finish "
FLAGS = {
    "absolute names (Docker strips the leading /)": "absolute-names",
    "names climbing above the root with .. (clamped; Docker would refuse this layer)": (
        "climbing-names"
    ),
    "the same path twice (the last entry wins)": "duplicate-paths",
    "sparse files": "sparse-files",
    "device nodes": "device-nodes",
    "no end-of-archive marker (the tar just stops)": "no-end-marker",
}
FINDS_NOTHING = re.compile(
    r"^whiteout for (?P<path>.*) deletes nothing \(no such path below\)$", re.DOTALL
)


def to_codes(apps, schema_editor):
    IngestJob = apps.get_model("images", "IngestJob")
    Layer = apps.get_model("images", "Layer")
    Chain = apps.get_model("images", "Chain")
    for job in IngestJob.objects.exclude(phase=""):
        if job.phase in PHASES:
            job.phase = PHASES[job.phase]
        elif job.phase.startswith(WAITING):
            job.phase, job.phase_args = "waiting", {"layer_label": job.phase[len(WAITING) :]}
        else:
            job.phase = ""  # a phase no code names: the job says only its state
        job.save(update_fields=["phase", "phase_args"])
    for layer in Layer.objects.exclude(flags=[]):
        layer.flags = [FLAGS.get(flag, flag) for flag in layer.flags]
        layer.save(update_fields=["flags"])
    for chain in Chain.objects.exclude(notes=[]):
        notes = []
        for note in chain.notes:
            found = FINDS_NOTHING.match(note) if isinstance(note, str) else None
            notes.append(
                {"code": "whiteout-finds-nothing", "path": found["path"]} if found else note
            )
        chain.notes = notes
        chain.save(update_fields=["notes"])


class Migration(migrations.Migration):
    dependencies = [
        ("images", "0005_packed_entries_and_changes"),
    ]

    operations = [
        migrations.AddField(
            model_name="ingestjob",
            name="phase_args",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(to_codes, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="ingestjob",
            name="phase",
            field=models.CharField(
                blank=True, help_text="a code of progress.PHASE_WORDS", max_length=20
            ),
        ),
    ]
