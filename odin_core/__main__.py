from odin_core.cli import main

main()
