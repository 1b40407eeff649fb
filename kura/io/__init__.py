"""Reading conversations: every supported format, detected from content, streamed, with a report.

    iter_conversations(paths, format=, strict=, report=, columns=)  -> Iterator[Conversation]
    load_conversations(...)                                          -> list[Conversation]
    LoadReport                     what was read, skipped and why, file by file
    FORMATS / detect_format(path)  the format names, and the one a file is in
    parse_column_map("id=conv,role=speaker,content=text")  the command line's --columns

One module per format (claude, chatgpt, sharegpt, openai, kura_dump, hh_rlhf, tabular, hf, langfuse,
langsmith, otel, openai_log, anthropic_log; traces and chat_values hold what the trace formats share);
docs/formats.md says how each field of each format is read.
"""

from kura.io.detect import FORMATS, detect_format
from kura.io.loader import iter_conversations, load_conversations
from kura.io.report import FileReport, LoadReport
from kura.io.tabular import parse_column_map

__all__ = [
    "FORMATS",
    "FileReport",
    "LoadReport",
    "detect_format",
    "iter_conversations",
    "load_conversations",
    "parse_column_map",
]
