"""An image's packages as a CycloneDX 1.6 JSON SBOM, each component with its package URL and
the layer that installed it (the ``layerviz:layer:diff_id`` property, as Trivy records
``aquasecurity:trivy:DiffID``)."""

from __future__ import annotations

import uuid
from typing import Any

from django.utils import timezone

from layerviz.images.models import Image

from . import scan
from .models import ImagePackage

SPEC_VERSION = "1.6"
NAMESPACE = "layerviz"


def component(package: ImagePackage, diff_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "bom-ref": f"{package.purl}#{package.location}" if package.purl else str(package.pk),
        "type": "library",  # CycloneDX's type for a package of any ecosystem we read
        "name": package.name,
        "version": package.version,
        "purl": package.purl,
        "properties": [
            {"name": f"{NAMESPACE}:package:ecosystem", "value": package.ecosystem},
            {"name": f"{NAMESPACE}:layer:diff_id", "value": diff_id},
            {"name": f"{NAMESPACE}:layer:number", "value": str(package.layer + 1)},
            {"name": f"{NAMESPACE}:package:location", "value": package.location},
            {"name": f"{NAMESPACE}:package:source", "value": package.source},
        ],
    }
    if package.license:
        out["licenses"] = [{"license": {"name": package.license}}]
    if package.hidden_but_shipped:
        out["properties"].append(
            {"name": f"{NAMESPACE}:package:hidden_bytes", "value": str(package.hidden_bytes)}
        )
    return out


def cyclonedx(image: Image) -> dict[str, Any]:
    """The SBOM of the packages in the image's final filesystem."""
    scan.scan(image)
    diff_ids = dict(image.image_layers.values_list("position", "layer__diff_id"))
    packages = image.packages.shipped().order_by("ecosystem", "name", "location")
    name = image.label
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "timestamp": timezone.now().replace(microsecond=0).isoformat(),
            "tools": {"components": [{"type": "application", "name": "layerviz"}]},
            "component": {
                "bom-ref": image.digest,
                "type": "container",
                "name": name,
                "version": image.digest,
                "properties": [
                    {"name": f"{NAMESPACE}:image:id", "value": image.image_id},
                    *(
                        {"name": f"{NAMESPACE}:layer:diff_id", "value": diff_ids[p]}
                        for p in sorted(diff_ids)
                    ),
                ],
            },
        },
        "components": [component(p, diff_ids.get(p.layer, "")) for p in packages],
    }
