"""What the prompt has defined: ``%who``, ``%whos``, ``%who_ls`` and ``%reset``. Names
defined at the prompt are those that sessions' cells bind at their top level (assignments,
imports, ``def``, ``class``, ``for`` targets, ...), so in a live program the program's own
names are told apart from the ones its sessions added."""

from __future__ import annotations

from hotrepl._magics import UsageError, builtin, split_options, usage_of
from hotrepl._native import session_cells

# Names a cell's source binds, by source: cells come again and again.
_bound_by_cell: dict = {}


def _names_bound(source: str) -> set:
    """The names a cell binds at its top level (not inside the functions and classes it
    defines, which have their own)."""
    if source in _bound_by_cell:
        return _bound_by_cell[source]
    import ast

    names: set = set()

    class Binder(ast.NodeVisitor):
        def visit_Name(self, node):
            if isinstance(node.ctx, (ast.Store, ast.Del)):
                names.add(node.id)

        def visit_FunctionDef(self, node):
            names.add(node.name)

        visit_AsyncFunctionDef = visit_ClassDef = visit_FunctionDef

        def visit_Lambda(self, node):
            pass  # a lambda's names are its own, as are a comprehension's

        visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_Lambda

        def visit_alias(self, node):
            names.add(node.asname or node.name.split(".")[0])

    try:
        Binder().visit(ast.parse(source))
    except (SyntaxError, ValueError):
        pass
    _bound_by_cell[source] = names
    return names


def defined_at_prompt(namespace) -> list:
    """The names sessions' cells bound that the namespace still holds, sorted."""
    bound: set = set()
    for source in session_cells():
        bound |= _names_bound(source)
    return sorted(name for name in bound if name in namespace and not name.startswith("_"))


def _listed(ctx, line, usage):
    options, rest = split_options(line, usage, {"-a": None, "--all": None})
    namespace = ctx.locals
    if options:
        names = sorted(n for n in namespace if not n.startswith("_"))
    else:
        names = defined_at_prompt(namespace)
    wanted = rest.split()
    if wanted:
        names = [n for n in names if type(namespace[n]).__name__ in wanted]
    return names


@builtin("who")
def who(ctx, line):
    """List the names defined at the prompt: %who [-a] [TYPE ...]

    -a (--all): every name in the namespace, the program's own too. TYPE...: only values of
    these types (%who int str)."""
    names = _listed(ctx, line, usage_of(who))
    print("  ".join(names) if names else "No names defined at the prompt (%who -a lists the whole namespace).")


@builtin("who_ls")
def who_ls(ctx, line):
    """The names defined at the prompt, as a list: %who_ls [-a] [TYPE ...]"""
    return _listed(ctx, line, usage_of(who_ls))


@builtin("whos")
def whos(ctx, line):
    """Describe the names defined at the prompt: %whos [-a] [TYPE ...]

    A table of each name, its type and a short form of its value."""
    names = _listed(ctx, line, usage_of(whos))
    if not names:
        print("No names defined at the prompt (%whos -a lists the whole namespace).")
        return
    namespace = ctx.locals
    types = {n: type(namespace[n]).__name__ for n in names}
    name_width = max(8, *(len(n) for n in names)) + 2
    type_width = max(4, *(len(t) for t in types.values())) + 2
    rows = [f"{'Variable':<{name_width}}{'Type':<{type_width}}Data/Info", "-" * (name_width + type_width + 40)]
    for n in names:
        value = ctx.safe_repr(namespace[n], max(20, 78 - name_width - type_width))
        rows.append(f"{n:<{name_width}}{types[n]:<{type_width}}{value}")
    print("\n".join(rows))


@builtin("reset")
def reset(ctx, line):
    """Delete the names defined at the prompt: %reset [-f] [--all]

    Asks first, unless -f. In a live program only the names its sessions defined go: the
    program's own stay, unless -f --all (everything but __dunder__ names)."""
    usage = usage_of(reset)
    options, rest = split_options(line, usage, {"-f": None, "--all": None})
    if rest:
        raise UsageError(usage)
    namespace = ctx.locals
    if options.get("--all"):
        if not options.get("-f"):
            raise UsageError(f"--all deletes the program's own names too: it needs -f\n{usage}")
        doomed = [n for n in namespace if not (n.startswith("__") and n.endswith("__"))]
    else:
        doomed = defined_at_prompt(namespace)
    if not doomed:
        print("Nothing to delete.")
        return
    if not options.get("-f"):
        where = "this program" if ctx.in_host_program else "the namespace"
        shown = ", ".join(doomed[:10]) + (f" and {len(doomed) - 10} more" if len(doomed) > 10 else "")
        answer = input(f"Delete {len(doomed)} name(s) from {where} ({shown})? Once deleted they cannot be recovered. [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing deleted.")
            return
    for n in doomed:
        namespace.pop(n, None)
    print(f"Deleted {len(doomed)} name(s).")
