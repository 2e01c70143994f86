"""Objects that stand in for pip's own where the hook changes what pip sees: a project's backend
pages as one pip source, read lazily (:class:`FallbackSource`), and pip's release control with
pre-releases allowed for one project (:func:`allow_prereleases`)."""

from __future__ import annotations

from typing import Any, Callable, List, Optional

__all__ = ["FallbackSource", "allow_prereleases"]


class FallbackSource:
    """The backend pages of one project as one pip source: the first page that holds a build
    serving the request wins; a missing page, or one without such a build, hands over to the
    next. The last page (``cpu``) is taken as it is. Pages not read yet stay available to
    :meth:`more`, for a specifier the resolver brings later (a library's ``torch<2.6``)."""

    def __init__(self, sources: List[Any], serves: Callable[[Any], bool]) -> None:
        self._sources = sources
        self._serves = serves
        self._next = 0
        #: The page that served the request (its URL), once one did.
        self.served: Optional[str] = None
        #: Whether :meth:`more` added candidates to what pip found at first.
        self.extended = False

    @property
    def link(self) -> Any:
        return self._sources[0].link if self._sources else None

    def _read(self, serves: Callable[[Any], bool]) -> List[Any]:
        while self._next < len(self._sources):
            source = self._sources[self._next]
            self._next += 1
            found = list(source.page_candidates())
            if self._next == len(self._sources) or any(serves(candidate) for candidate in found):
                self.served = getattr(source.link, "url", None) if found else self.served
                return found
        return []

    def page_candidates(self) -> Any:
        yield from self._read(self._serves)

    def more(self, serves: Callable[[Any], bool]) -> List[Any]:
        """Candidates of the next unread page that serves ``serves`` (empty when none is left)."""
        found = self._read(serves)
        self.extended = self.extended or bool(found)
        return found

    def file_links(self) -> Any:
        for source in self._sources:
            yield from source.file_links()


class _PreReleasesFor:
    """pip 26's release control, but pre-releases allowed for one project unless the user
    said otherwise (``--only-final``)."""

    def __init__(self, inner: Any, project: str) -> None:
        self._inner, self._project = inner, project

    def allows_prereleases(self, name: Any) -> Optional[bool]:
        said = self._inner.allows_prereleases(name) if self._inner is not None else None
        return True if said is None and name == self._project else said

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._inner, attr)


def allow_prereleases(evaluator: Any, project: str) -> None:
    """The test and nightly channels carry pre-releases only: allow them for PyTorch
    projects without ``--pre``, and for nothing else."""
    if hasattr(evaluator, "_release_control"):  # pip 26.0+
        evaluator._release_control = _PreReleasesFor(evaluator._release_control, project)
    elif hasattr(evaluator, "_allow_all_prereleases"):  # pip <= 25.3
        evaluator._allow_all_prereleases = True
