"""`python -m leakaudit` is the `leakaudit` command (useful where the script is not on PATH)."""
from leakaudit.cli import main

if __name__ == "__main__":
    main(prog_name="leakaudit")
