from trustbuild.cli import main

main()
