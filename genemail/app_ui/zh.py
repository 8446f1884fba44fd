"""Chinese texts of the page, keyed by their English text (``genemail.app_ui.i18n.t``)."""

ZH: dict[str, str] = {
}
