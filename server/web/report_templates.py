"""The report templates (P&L by month, balance sheet, trial balance) the pane inserts next to the Actuals table.
Any member of the workspace may read them; they hold formulas and a sample, no workspace data."""
from __future__ import annotations

import io

from flask import send_file, url_for
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from server.errors import not_found
from server.web.common import BEARER, ERRORS, plain_text
from server.workbook.templates import TEMPLATES, find_template, template_bytes, template_file_name

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

bp = APIBlueprint("report_templates", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="Workbook")],
                  abp_security=BEARER, abp_responses={401: ERRORS[401], 403: ERRORS[403], 404: ERRORS[404],
                                                      422: ERRORS[422]})


class TemplateOut(BaseModel):
    name: str
    title: str
    description: str
    href: str = Field(description="Where the .xlsx file is.")
    sheet: str = Field(description="The report's worksheet: the one to insert. The file's `Actuals` sheet is a "
                                   "sample so it opens on its own; the report reads whatever `Actuals` table the "
                                   "workbook holds.")


class TemplateList(BaseModel):
    templates: list[TemplateOut]


class TemplatePath(BaseModel):
    name: plain_text(100, min_length=1)


@bp.get("/workbook/templates", responses={200: TemplateList})
def list_templates():
    """The report templates, each an .xlsx whose formulas read the `Actuals` table."""
    return {"templates": [
        TemplateOut(name=template.name, title=template.title, description=template.description,
                    href=url_for("report_templates.get_template", name=template.name), sheet=template.sheet,
                    ).model_dump()
        for template in TEMPLATES]}


@bp.get("/workbook/templates/<name>.xlsx", responses={200: {"description": "The template as an .xlsx file.",
                                                            "content": {XLSX: {"schema": {"type": "string",
                                                                                          "format": "binary"}}}}})
def get_template(path: TemplatePath):
    """One template's .xlsx file; an unknown name answers 404."""
    template = find_template(path.name)
    if template is None:
        raise not_found("template")
    return send_file(io.BytesIO(template_bytes(template)), mimetype=XLSX, as_attachment=True,
                     download_name=template_file_name(template), max_age=0)
