class DefaultLanguageMiddleware:
    """Make the program's language (Russian) the default whatever the browser says.

    LocaleMiddleware would otherwise follow Accept-Language and show an English UI to a
    tablet set up in English. A language the user chose explicitly (the language
    cookie set by the switcher) still wins.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.META.pop("HTTP_ACCEPT_LANGUAGE", None)
        return self.get_response(request)
