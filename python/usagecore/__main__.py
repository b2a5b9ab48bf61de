from usagecore.cli import main

main()
