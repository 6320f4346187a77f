FROM scratch
ENV abc=hello
ENV abc=bye def=$abc
ENV old form with   spaces $abc
ENV q="a b" r='c $abc' s=x\ y
LABEL "k $abc"="v ${def}" plain=1
LABEL oldlabel  some   value
WORKDIR /w/${def:-x}/$undefined
ARG P="80 443/udp"
EXPOSE $P 9000-9001
USER ${abc}:${def}
ENV sig=KILL
STOPSIGNAL SIG$sig
VOLUME ["/v/$abc"] 
CMD echo $abc \
  # comment
  done
ONBUILD ENV x=$abc
HEALTHCHECK --interval=1h2m3.5s --timeout=1.5ms CMD true
