from pixelguard.cli import main

main()
