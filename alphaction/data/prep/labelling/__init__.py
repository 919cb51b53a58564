"""Labelling your own videos in an annotation tool (docs/LABELLING.md): person boxes of the prepared keyframes out
to a VIA 3 project or a CVAT XML with the label map's actions as attribute options (``via``, ``cvat``), and the
labelled file back in as AVA CSV rows (``importer``). ``keyframes`` holds what both directions share.

The tracking that gives the person ids and the model that pre-ticks actions live above the data layer
(``alphaction.apis.labelling``); the commands are ``tools/export_for_labelling.py`` and ``tools/import_labels.py``.
"""
