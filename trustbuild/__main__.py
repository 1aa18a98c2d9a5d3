from trustbuild._internal.commands import run

run()
