# Reports (dataset profiles, detector summaries, PDF files) arrive with the reports issue.
