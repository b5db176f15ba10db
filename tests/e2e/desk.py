"""Reading the cashier desk in browser tests."""

from playwright.sync_api import Page

PASSWORD = "correct-horse-battery"  # of the cashier accounts the tests make


def amount(page: Page, row: str):
    """The amount cell of a breakdown row (data-row="paid", "points-earned"…)."""
    return page.locator(f'[data-testid="breakdown"] tr[data-row="{row}"] td.amount')
