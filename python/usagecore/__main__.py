from usagecore.entry import main

main()
