#!/bin/sh
: envsubst
