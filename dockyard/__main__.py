from dockyard.main import run

run()
