"""`python -m vlaforge ...` (used by torchrun) behaves exactly like the `vlaforge` command."""

from vlaforge.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
