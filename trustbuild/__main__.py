from trustbuild.commands import run

run()
