"""Restricted cases: a case seen only by its named members and admins; to everybody else it and its subjects do
not exist."""
