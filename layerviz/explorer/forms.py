from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from layerviz.images.models import IngestJob
from layerviz.images.requests import IngestRequest
from layerviz.lib import reference as refs
from layerviz.lib.errors import SourceError
from layerviz.lib.oci import Platform
from layerviz.lib.units import human_bytes
from layerviz.sources import PATH_TRANSPORTS, split_spec, transport_named

from . import uploads

# The form's sources of a reference and the transport each is read with; a reference typed with
# one of these transports in front chooses that source, whichever is ticked.
TRANSPORT_OF_KIND = {"registry": "docker", "engine": "docker-daemon"}
KIND_OF_TRANSPORT = {transport: kind for kind, transport in TRANSPORT_OF_KIND.items()}
# The parsers' messages name the fault in English, as the command prints them; these frames
# say in the page's language what the field's text is not.
NOT_A_NAME = _("Not an image name: %(problem)s")
NOT_A_PLATFORM = _("Not a platform: %(problem)s")


def kind_of_job(job: IngestJob) -> str:
    """The form's source a job was asked for with: how to offer the same again."""
    if job.upload:
        return "upload"
    return KIND_OF_TRANSPORT.get(transport_named(job.source) or "", "registry")


class AddImageForm(forms.Form):
    KINDS = [
        ("registry", _("Pull from a registry")),
        ("engine", _("From the local Docker engine")),
        ("upload", _("Upload an archive")),
    ]
    kind = forms.ChoiceField(choices=KINDS, initial="registry", widget=forms.RadioSelect)
    reference = forms.CharField(
        label=_("Image reference"),
        required=False,
        max_length=400,
        widget=forms.TextInput(
            attrs={"placeholder": "python:3.12-slim", "autocomplete": "off", "spellcheck": "false"}
        ),
    )
    platform = forms.CharField(
        label=_("Platform"),
        required=False,
        max_length=60,
        help_text=_("os/arch[/variant]; empty means this machine's"),
        widget=forms.TextInput(attrs={"placeholder": "linux/arm64"}),
    )
    username = forms.CharField(label=_("Registry user"), required=False, max_length=200)
    password = forms.CharField(
        label=_("Password or token"),
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )
    insecure = forms.BooleanField(label=_("Allow plain HTTP"), required=False)
    pull = forms.BooleanField(label=_("Let the engine pull it first"), required=False)
    archive = forms.FileField(
        label=_("docker save or OCI archive (.tar, .tar.gz)"),
        required=False,
        allow_empty_file=False,
    )
    tag = forms.CharField(
        label=_("Also name it"),
        required=False,
        max_length=400,
        help_text=_("optional: the image is listed under this name too"),
        widget=forms.TextInput(
            attrs={"placeholder": "myapp:1.0", "autocomplete": "off", "spellcheck": "false"}
        ),
    )

    @property
    def is_upload(self) -> bool:
        return self.cleaned_data["kind"] == "upload"

    def ingest_request(self, upload: str = "") -> IngestRequest:
        """What the valid form asks for; ``upload`` is where the uploaded archive was saved."""
        data = self.cleaned_data
        platform, tag = data.get("platform") or "", data.get("tag") or ""
        if data["kind"] == "upload":
            label = f"upload:{data['archive'].name}"
            return IngestRequest(
                f"docker-archive:{upload}", platform=platform, tag=tag, label=label
            )
        if data["kind"] == "engine":
            return IngestRequest(
                f"docker-daemon:{data['reference']}", platform=platform, tag=tag, pull=data["pull"]
            )
        return IngestRequest(
            f"docker://{data['reference']}",
            platform=platform,
            tag=tag,
            insecure=data["insecure"],
            username=data["username"],
            password=data["password"],
        )

    def __init__(self, *args, upload_refused: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.upload_refused = upload_refused  # why the upload handler stopped, if it did

    def clean_platform(self) -> str:
        return self._checked("platform", Platform.parse, str(NOT_A_PLATFORM))

    def clean_tag(self) -> str:
        return self._checked("tag", refs.parse, str(NOT_A_NAME))

    def _checked(self, field: str, parse: Callable[[str], object], frame: str) -> str:
        """The field's text, stripped, once ``parse`` accepts it (``frame`` around its message)."""
        value = self.cleaned_data[field].strip()
        if value:
            try:
                parse(value)
            except ValueError as exc:
                raise forms.ValidationError(frame % {"problem": exc}) from None
        return value

    def clean(self) -> dict:
        data = super().clean() or {}
        if data.get("kind") in TRANSPORT_OF_KIND:
            self._clean_reference(data)
        kind = data.get("kind")
        if kind == "upload" and self.upload_refused == uploads.TOO_LARGE:
            self.add_error(
                "archive",
                _("The archive is larger than the %(limit)s upload limit.")
                % {"limit": human_bytes(settings.LAYERVIZ_MAX_UPLOAD_BYTES)},
            )
        elif kind == "upload" and self.upload_refused == uploads.DISK_BUSY:
            self.add_error(
                "archive",
                _(
                    "Uploads waiting to be indexed already hold close to %(limit)s of disk, "
                    "the most allowed at once: try again once they are indexed."
                )
                % {"limit": human_bytes(settings.LAYERVIZ_MAX_UPLOADS_IN_FLIGHT_BYTES)},
            )
        elif kind == "upload" and not data.get("archive"):
            self.add_error("archive", _("Choose an archive file to upload."))
        return data

    def _clean_reference(self, data: dict) -> None:
        """The reference, with a transport in front (``docker://``, ``docker-daemon:``) read
        as the command reads it: it chooses the source. Transports that read a path on the
        server are refused: a web page may not make the server read its files."""
        ref = (data.get("reference") or "").strip()
        transport = transport_named(ref)
        if transport is not None:
            try:
                transport, ref = split_spec(ref)
            except SourceError:  # nothing after the transport: asked for below
                ref = ""
        if transport in PATH_TRANSPORTS:
            self.add_error(
                "reference",
                _(
                    "%(transport)s: reads a file on the server, which the web form does not "
                    "do. Choose “Upload an archive” to send it from your machine, or run "
                    "manage.py ingest on the server."
                )
                % {"transport": transport},
            )
            return
        if transport is not None:
            data["kind"] = KIND_OF_TRANSPORT[transport]
        data["reference"] = ref
        if not ref:
            self.add_error("reference", _("Give the image to read, for example python:3.12-slim."))
        elif data["kind"] == "registry":
            try:
                refs.parse(ref)
            except ValueError as exc:
                self.add_error("reference", NOT_A_NAME % {"problem": exc})
