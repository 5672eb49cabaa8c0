"""No code path in src/ can unpickle a file: no pickle-family imports, torch.load only with weights_only=True."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PICKLERS = {"pickle", "_pickle", "cPickle", "dill", "cloudpickle", "joblib", "shelve", "marshal"}


def _offences(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        where = f"{path.relative_to(SRC)}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            found += [f"{where} imports {a.name}" for a in node.names if a.name.split(".")[0] in PICKLERS]
        elif isinstance(node, ast.ImportFrom):
            mod = (node.module or "").split(".")[0]
            if mod in PICKLERS or (mod == "torch" and any(a.name == "load" for a in node.names)):
                found.append(f"{where} imports from {node.module}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            kw = {k.arg: k.value for k in node.keywords}
            owner = node.func.value.id if isinstance(node.func.value, ast.Name) else ""
            if owner == "torch" and node.func.attr == "load":
                wo = kw.get("weights_only")
                if not (isinstance(wo, ast.Constant) and wo.value is True):
                    found.append(f"{where} calls torch.load without weights_only=True")
            if node.func.attr == "load" and isinstance(kw.get("allow_pickle"), ast.Constant) and kw["allow_pickle"].value is not False:
                found.append(f"{where} calls {owner}.load with allow_pickle")
    return found


def test_src_never_unpickles():
    files = sorted(SRC.rglob("*.py"))
    assert files
    offences = [o for f in files for o in _offences(f)]
    assert not offences, offences
