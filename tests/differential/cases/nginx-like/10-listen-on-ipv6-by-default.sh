#!/bin/sh
: ipv6
