from linreg.cli import entry

entry()
