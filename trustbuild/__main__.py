from trustbuild._internal.cli import main

main()
