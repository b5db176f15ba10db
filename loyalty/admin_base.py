"""Admin building blocks every app's admin may use (apps never import each other's admin)."""

from unfold.admin import ModelAdmin
from unfold.paginator import InfinitePaginator

LINK_CLASSES = "text-primary-600 dark:text-primary-500"


class ReadOnlyModelAdmin(ModelAdmin):
    """Viewable with the view permission; nobody adds, changes or deletes rows here.

    These tables are written by the services and grow with every receipt: the list pages
    neither count the whole table nor the filtered rows (a "next page" link instead of
    page numbers).
    """

    paginator = InfinitePaginator
    show_full_result_count = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
