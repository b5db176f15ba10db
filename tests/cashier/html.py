"""Reading the desk's pages in tests."""

import re

_ROW = re.compile(r'<tr data-row="([^"]+)"[^>]*>.*?<td class="amount">(.*?)</td>', re.DOTALL)


def amounts(html: str) -> dict[str, str]:
    """The amount column of every `data-row` line, as shown (e.g. "2,350.00&nbsp;₽")."""
    return {key: value.strip() for key, value in _ROW.findall(html)}
